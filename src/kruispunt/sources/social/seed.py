"""Bulk loading of the social sources from simulated statuses (or any rows of the same shape).

Input: batches of statuses, one row per file a source holds on a person — a
:class:`kruispunt.simulate.lives.StatusBatch`, or any object with the same arrays (:class:`StatusRows`), or an
iterable of row dicts (:func:`as_statuses`), which is how the tests build small hand-made ones. Each row's
``source`` names the simulated source (``rsz``, ``nic``, ``ocmw`` …); ``sources.yaml`` says which service it
feeds (``statuses:``), and for a members service the row's ``member`` picks the member's database.

:class:`SocialLoader` holds one connection per database (every primary source, every member, every managing
institution), tuned for bulk loading (:func:`kruispunt.sources.persons.bulk_session`: indexes dropped while
the tables are empty and rebuilt at the end; SQLite ``executemany``, PostgreSQL ``COPY``), and per batch:

* inserts each source's files into its database (one transaction per database and batch);
* inserts each managing institution's member directory: one span per (person, member);
* returns the persons-directory lines of the batch for the hub (:func:`directory_rows`): one line per
  (person, institution, capacity) with the span of that person's files — earliest start, open when a file is
  open, else the latest end — PRIMARY for a type-0 institution, SECONDARY for a member.

A person's files must all come in one batch (:func:`kruispunt.simulate.lives.iter_lives` never splits a
household): the spans are computed per batch.

Each database records what it was seeded with in ``meta`` (``population.*``, ``population.status`` loading →
complete), as the registers do: seeding again with the same population is a no-op, an interrupted load is
redone from scratch, a database holding anything else is left alone unless ``force``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Connection, Engine, Table

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.network.directory import BulkRow
from kruispunt.network.registry import Registry
from kruispunt.sources import persons
from kruispunt.sources.social import service
from kruispunt.sources.social.definitions import SourceDef, load_definitions
from kruispunt.sources.social.models import file_table, member_line_table
from kruispunt.sources.social.signing import load_signing_key

Array = npt.NDArray[Any]
_OPEN = np.iinfo(np.int64).max


class SeedConflict(RuntimeError):
    """A social database already holds other data; seeding would mix populations."""


class StatusRows(Protocol):
    """The arrays of a :class:`kruispunt.simulate.lives.StatusBatch` (one row per file)."""

    insz: Array
    source: Array
    kind: Array
    member: Array
    capacity: Array
    start: Array
    end: Array
    attrs: Array

    def __len__(self) -> int: ...


_ARRAYS = ("insz", "source", "kind", "member", "capacity", "start", "end", "attrs")


class Statuses(StatusRows):
    """A :class:`StatusRows` built from plain rows (tests, exports)."""

    def __init__(self, **arrays: Array) -> None:
        """One keyword argument per array of :class:`StatusRows` (all of them, and only those)."""
        if set(arrays) != set(_ARRAYS):
            raise TypeError(f"Statuses takes the arrays {', '.join(_ARRAYS)}")
        for name in _ARRAYS:
            setattr(self, name, arrays[name])

    def __len__(self) -> int:
        return len(self.insz)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Statuses:
        """Rows with ``insz, source, kind, member, capacity, start, end`` (dates or ISO text, end None =
        open) and ``attrs`` (a dict)."""
        rows = list(records)

        def day(value: Any) -> Any:
            if value is None:
                return np.datetime64("NaT", "D")
            return np.datetime64(value if isinstance(value, str) else value.isoformat(), "D")

        attrs = np.empty(len(rows), dtype=object)
        attrs[:] = [dict(r.get("attrs") or {}) for r in rows]
        return cls(
            insz=np.array([r["insz"] for r in rows], dtype="U11"),
            source=np.array([r["source"] for r in rows], dtype="U16"),
            kind=np.array([r["kind"] for r in rows], dtype=object),
            member=np.array([r["member"] for r in rows], dtype="U10"),
            capacity=np.array([r["capacity"] for r in rows], dtype=np.int16),
            start=np.array([day(r["start"]) for r in rows], dtype="datetime64[D]"),
            end=np.array([day(r.get("end")) for r in rows], dtype="datetime64[D]"),
            attrs=attrs,
        )


def as_statuses(batch: StatusRows | Iterable[Mapping[str, Any]]) -> StatusRows:
    """A StatusBatch-like object as it is, anything else as rows (:meth:`Statuses.from_records`)."""
    if all(hasattr(batch, name) for name in _ARRAYS):
        return cast(StatusRows, batch)
    return Statuses.from_records(cast(Iterable[Mapping[str, Any]], batch))


# ------------------------------------------------------------------------------------------------ spans


def _days(values: Array) -> Array:
    return values.astype("datetime64[D]").astype(np.int64)


@dataclass(frozen=True)
class Spans:
    """One span per group of rows: its key columns, earliest start, latest end (None = open)."""

    keys: tuple[Array, ...]
    start: Array
    end: Array  # datetime64[D], NaT = open

    def __len__(self) -> int:
        return len(self.start)


def spans(keys: Sequence[Array], start: Array, end: Array) -> Spans:
    """Group rows by ``keys``: earliest start; open (NaT) when any row is open, else the latest end."""
    if len(start) == 0:
        empty = np.zeros(0, dtype="datetime64[D]")
        return Spans(tuple(k[:0] for k in keys), empty, empty)
    order = np.lexsort(tuple(reversed(list(keys))))
    sorted_keys = [k[order] for k in keys]
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    bounds = np.flatnonzero(change)
    first = _days(start)[order]
    ends = _days(end)[order]
    ends = np.where(np.isnat(end[order]), _OPEN, ends)
    lo = np.minimum.reduceat(first, bounds)
    hi = np.maximum.reduceat(ends, bounds)
    out_end = hi.astype("datetime64[D]")
    out_end[hi == _OPEN] = np.datetime64("NaT")
    return Spans(tuple(k[bounds] for k in sorted_keys), lo.astype("datetime64[D]"), out_end)


def _dates(values: Array) -> list[dt.date | None]:
    return [None if v is None else v for v in values.astype(object).tolist()]


def directory_rows(statuses: StatusRows, registry: Registry, institutions: Iterable[str]) -> list[BulkRow]:
    """Persons-directory lines for the files of ``institutions`` (those in the registry): one per (person,
    institution, capacity) with the span of the files."""
    known = {kbo: registry.institution(kbo) for kbo in institutions}
    wanted = np.array([kbo for kbo, inst in known.items() if inst is not None], dtype="U10")
    rows = np.isin(statuses.member, wanted)
    s = spans(
        (statuses.insz[rows], statuses.member[rows], statuses.capacity[rows]),
        statuses.start[rows],
        statuses.end[rows],
    )
    insz, member, capacity = s.keys
    out: list[BulkRow] = []
    for i, k, c, st, en in zip(
        insz.tolist(), member.tolist(), capacity.tolist(), _dates(s.start), _dates(s.end), strict=True
    ):
        inst = known[k]
        assert inst is not None
        assert st is not None
        out.append((i, k, inst.sector, inst.institution_type, int(c), None, st, en, inst.register))
    return out


# ---------------------------------------------------------------------------------------------- loading

_FILE_COLUMNS = ("insz", "kind", "member", "capacity", "start", "end", "attrs", "key")


def file_key(kind: str, insz: str, attrs: Mapping[str, Any]) -> str | None:
    """The key a seeded file gets, so that the employers service can later amend it: a ``dimona_period``
    its Dimona period id, a ``dmfa_quarter`` ``employer_kbo:quarter:insz`` (the DmfA worker record it comes
    from); other kinds none."""
    if kind == "dimona_period" and attrs.get("dimona_id"):
        return str(attrs["dimona_id"])
    if kind == "dmfa_quarter" and attrs.get("employer_kbo") and attrs.get("quarter"):
        return f"{attrs['employer_kbo']}:{attrs['quarter']}:{insz}"
    return None


_LINE_COLUMNS = ("insz", "member", "start", "end")


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """``COPY … FROM STDIN`` on PostgreSQL, one ``executemany`` elsewhere (dates and JSON as text)."""
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', list(rows))  # noqa: S608


def file_rows(statuses: StatusRows, rows: Array) -> list[tuple[Any, ...]]:
    """Rows for ``social_file`` of the statuses at positions ``rows``.

    Keys (:func:`file_key`) are unique per kind and holder: when a person has two files with the same key
    (two day jobs with one employer in one quarter give two ``dmfa_quarter`` rows), only the first keeps it.
    """
    dumps = orjson.dumps
    insz = statuses.insz[rows].tolist()
    kinds = [str(k) for k in statuses.kind[rows].tolist()]
    members = statuses.member[rows].tolist()
    attrs = statuses.attrs[rows].tolist()
    seen: set[tuple[str, str, str]] = set()
    keys: list[str | None] = []
    for i, k, m, a in zip(insz, kinds, members, attrs, strict=True):
        key = file_key(k, i, a or {})
        if key is not None:
            if (k, m, key) in seen:
                key = None
            else:
                seen.add((k, m, key))
        keys.append(key)
    return list(
        zip(
            insz,
            kinds,
            members,
            statuses.capacity[rows].astype(np.int64).tolist(),
            persons.dates_text(statuses.start[rows]),
            persons.dates_text(statuses.end[rows]),
            [dumps(a).decode() for a in attrs],
            keys,
            strict=True,
        )
    )


@dataclass
class Target:
    """One database to load: a service, and for a members service one member."""

    service: str
    member: str | None
    url: str
    engine: Engine | None = None
    conn: Connection | None = None
    loaded: int = 0


def social_urls(
    db_url: str | None, data_dir: Path, definitions: Mapping[str, SourceDef] | None = None
) -> dict[tuple[str, str | None], str]:
    """The database URL of every social database: ``(service, member or None) → URL``."""
    defs = definitions or load_definitions()
    out: dict[tuple[str, str | None], str] = {}
    for d in defs.values():
        if d.role == "members":
            for kbo in d.institutions:
                out[(d.name, kbo)] = component_url(db_url, data_dir, d.component(kbo))
        else:
            out[(d.name, None)] = component_url(db_url, data_dir, d.component())
    return out


@dataclass
class SocialReport:
    files: dict[str, int] = field(default_factory=dict)
    """Files loaded per database (``service`` or ``service/member``)."""
    member_lines: dict[str, int] = field(default_factory=dict)
    skipped_rows: int = 0
    """Rows naming a source or holder no service serves (not loaded)."""
    skipped: bool = False
    seconds: float = 0.0

    @property
    def total_files(self) -> int:
        return sum(self.files.values())


class SocialLoader:
    """Every social database, opened for one seeding run (see the module docstring)."""

    def __init__(
        self,
        urls: Mapping[tuple[str, str | None], str],
        *,
        definitions: Mapping[str, SourceDef] | None = None,
    ) -> None:
        self.definitions = definitions or load_definitions()
        self.targets = {key: Target(key[0], key[1], url) for key, url in urls.items()}
        self._stack = ExitStack()
        self.report = SocialReport()
        self._routes = self._route_table()

    def _route_table(self) -> dict[str, SourceDef]:
        """Simulated source name → the service it feeds."""
        routes: dict[str, SourceDef] = {}
        for d in self.definitions.values():
            if d.statuses is not None:
                routes[d.statuses] = d
        return routes

    @staticmethod
    def label(key: tuple[str, str | None]) -> str:
        return key[0] if key[1] is None else f"{key[0]}/{key[1]}"

    # -- state ------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        for target in self.targets.values():
            upgrade(target.url, "social")
            target.engine = make_engine(target.url)

    def states(self) -> dict[tuple[str, str | None], tuple[dict[str, str], bool]]:
        """Per database: its meta and whether it holds any file or member line."""
        out = {}
        for key, target in self.targets.items():
            assert target.engine is not None
            with target.engine.connect() as conn:
                holds = service.count_files(conn) > 0 or service.count_member_lines(conn) > 0
                out[key] = (service.get_meta(conn), holds)
        return out

    def already_seeded(self, wanted: Mapping[str, str]) -> bool:
        return all(
            meta.get("population.status") == "complete" and all(meta.get(k) == v for k, v in wanted.items())
            for meta, _ in self.states().values()
        )

    def reset(self, wanted: Mapping[str, str], *, force: bool) -> None:
        """Empty every database for a new load (SeedConflict when one holds other data and not ``force``)."""
        states = self.states()
        for key, (meta, holds) in states.items():
            same = all(meta.get(k) == v for k, v in wanted.items())
            if (meta or holds) and not same and not force:
                target = self.targets[key]
                assert target.engine is not None
                raise SeedConflict(
                    f"{target.engine.url.render_as_string(hide_password=True)} ({self.label(key)}) already "
                    f"holds other data (seeded with {meta or 'nothing recorded'}); use force to replace it"
                )
        for target in self.targets.values():
            assert target.engine is not None
            with target.engine.begin() as conn:
                service.clear(conn)
                service.set_meta(conn, {**wanted, "population.status": "loading"})

    # -- loading ----------------------------------------------------------------------------------------

    def __enter__(self) -> SocialLoader:
        try:
            for target in self.targets.values():
                assert target.engine is not None
                d = self.definitions[target.service]
                tables = [member_line_table] if d.role == "managing" else [file_table]
                target.conn = self._stack.enter_context(persons.bulk_session(target.engine, tables))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def load(self, batch: StatusRows | Iterable[Mapping[str, Any]]) -> StatusRows:
        """Load one batch of statuses into every social database; returns the batch as arrays."""
        statuses = as_statuses(batch)
        if len(statuses) == 0:
            return statuses
        routed = np.zeros(len(statuses), dtype=bool)
        for source_name, d in self._routes.items():
            of_source = statuses.source == source_name
            if not of_source.any():
                continue
            if d.role == "members":
                for kbo in d.institutions:
                    rows = np.flatnonzero(of_source & (statuses.member == kbo))
                    routed[rows] = True
                    self._insert((d.name, kbo), statuses, rows)
                managing = self.definitions[d.managed_by or ""]
                held = of_source & np.isin(statuses.member, np.array(d.institutions, dtype="U10"))
                self._member_lines((managing.name, None), statuses, np.flatnonzero(held))
            else:
                rows = np.flatnonzero(
                    of_source & np.isin(statuses.member, np.array(d.institutions, dtype="U10"))
                )
                routed[rows] = True
                self._insert((d.name, None), statuses, rows)
        self.report.skipped_rows += int((~routed).sum())
        return statuses

    def _insert(self, key: tuple[str, str | None], statuses: StatusRows, rows: Array) -> None:
        if len(rows) == 0:
            return
        target = self.targets.get(key)
        if target is None or target.conn is None:
            self.report.skipped_rows += len(rows)
            return
        with target.conn.begin():
            bulk_insert(target.conn, file_table, _FILE_COLUMNS, file_rows(statuses, rows))
        target.loaded += len(rows)

    def _member_lines(self, key: tuple[str, str | None], statuses: StatusRows, rows: Array) -> None:
        target = self.targets.get(key)
        if len(rows) == 0 or target is None or target.conn is None:
            return
        s = spans((statuses.insz[rows], statuses.member[rows]), statuses.start[rows], statuses.end[rows])
        insz, member = s.keys
        lines = list(
            zip(
                insz.tolist(),
                member.tolist(),
                persons.dates_text(s.start),
                persons.dates_text(s.end),
                strict=True,
            )
        )
        with target.conn.begin():
            bulk_insert(target.conn, member_line_table, _LINE_COLUMNS, lines)
        target.loaded += len(lines)

    def finish(self, wanted: Mapping[str, str]) -> SocialReport:
        """Mark every database complete (call after leaving the ``with`` block)."""
        for key, target in self.targets.items():
            assert target.engine is not None
            with target.engine.begin() as conn:
                service.set_meta(
                    conn, {**wanted, "population.status": "complete", "population.loaded": str(target.loaded)}
                )
            d = self.definitions[target.service]
            (self.report.member_lines if d.role == "managing" else self.report.files)[self.label(key)] = (
                target.loaded
            )
        return self.report

    def loaded_counts(self) -> SocialReport:
        """The report of a skipped run: what the databases say they hold."""
        for key, (meta, _) in self.states().items():
            d = self.definitions[self.target_service(key)]
            bucket = self.report.member_lines if d.role == "managing" else self.report.files
            bucket[self.label(key)] = int(meta.get("population.loaded", "0"))
        self.report.skipped = True
        return self.report

    def target_service(self, key: tuple[str, str | None]) -> str:
        return self.targets[key].service

    def dispose(self) -> None:
        for target in self.targets.values():
            if target.engine is not None:
                target.engine.dispose()

    def institutions(self) -> list[str]:
        """Every institution holding files here (for its persons-directory lines)."""
        return sorted(
            {kbo for d in self.definitions.values() if d.role != "managing" for kbo in d.institutions}
        )


def seed_social(
    *,
    urls: Mapping[tuple[str, str | None], str],
    batches: Iterable[StatusRows | Iterable[Mapping[str, Any]]],
    wanted: Mapping[str, str],
    force: bool = False,
    on_batch: Callable[[StatusRows], None] | None = None,
) -> SocialReport:
    """Load every social database from ``batches`` (see the module docstring); a no-op when they already
    hold exactly ``wanted``. ``on_batch(statuses)`` is called after each batch (the caller's directory lines).
    """
    started = time.perf_counter()
    loader = SocialLoader(urls)
    try:
        loader.migrate()
        if loader.already_seeded(wanted):
            report = loader.loaded_counts()
        else:
            loader.reset(wanted, force=force)
            with loader:
                for batch in batches:
                    statuses = loader.load(batch)
                    if on_batch is not None:
                        on_batch(statuses)
            report = loader.finish(wanted)
    finally:
        loader.dispose()
    report.seconds = time.perf_counter() - started
    return report


def create_keys(keys_dir: Path, definitions: Mapping[str, SourceDef] | None = None) -> list[str]:
    """Create (or load) the signing key of every institution that issues attestations; their KBOs."""
    defs = definitions or load_definitions()
    issuers = sorted(
        {
            kbo
            for d in defs.values()
            if d.role != "managing" and d.issues_attestations
            for kbo in d.institutions
        }
    )
    for kbo in issuers:
        load_signing_key(keys_dir, kbo)
    return issuers
