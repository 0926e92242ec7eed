"""The persons directory (personenrepertorium): which institution knows which person, in which capacity, when.

SQLAlchemy Core on an explicit ``Connection``; the caller owns the transaction. ``integration`` and
``institutions_knowing`` are on the hub's hot path: one query each on the ``(insz, institution)`` index.

Periods are inclusive on both ends; ``end`` None means the dossier is still active.

* ``register`` (ManageAccess REGISTER) adds a line, or — when the institution already has a line in that
  capacity overlapping the period — keeps a single line covering both periods (idempotent: no duplicate).
  It returns the person's other inscriptions overlapping the requested period.
* ``unregister`` (ManageAccess UNREGISTER) closes the institution's lines in that capacity that are still
  active after the closing date: ``end`` becomes the last day the institution knows the person (``end``, or
  ``start`` when no end is given).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Row, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from kruispunt.ids import normalise_insz
from kruispunt.network.models import (
    PERSON_LINE_INDEXES,
    capacity_table,
    institution_table,
    person_line_table,
    sector_table,
)
from kruispunt.network.registry import Institution, Registry

RegisterName = Literal["PRIMARY", "SECONDARY"]
QueryRegister = Literal["PRIMARY", "SECONDARY", "ALL"]
BulkRow = tuple[str, str, int, int, int, int | None, dt.date, dt.date | None, str]

_t = person_line_table


class DirectoryError(ValueError):
    """A directory operation was refused. ``code``: INVALID_INSZ | UNKNOWN_CAPACITY | INVALID_PERIOD |
    NO_INSCRIPTION | UNKNOWN_INSTITUTION."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PersonLine:
    id: int
    insz: str
    institution: str
    sector: int
    institution_type: int
    capacity: int
    phase: int | None
    start: dt.date
    end: dt.date | None
    last_change: dt.datetime
    register: RegisterName

    def active_on(self, on: dt.date) -> bool:
        return self.start <= on and (self.end is None or on <= self.end)

    def overlaps(self, start: dt.date, end: dt.date | None) -> bool:
        return _overlap(self.start, self.end, start, end)


@dataclass(frozen=True, slots=True)
class RegisterResult:
    line: PersonLine
    overlapping: list[PersonLine]
    created: bool


def _overlap(s1: dt.date, e1: dt.date | None, s2: dt.date, e2: dt.date | None) -> bool:
    return (e2 is None or s1 <= e2) and (e1 is None or s2 <= e1)


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps no zone: every value we write is UTC
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _line(row: Row[Any]) -> PersonLine:
    return PersonLine(
        id=row.id,
        insz=row.insz,
        institution=row.institution,
        sector=row.sector,
        institution_type=row.institution_type,
        capacity=row.capacity,
        phase=row.phase,
        start=row.start,
        end=row.end,
        last_change=_utc(row.last_change),
        register=row.register,
    )


def _checked_insz(insz: str) -> str:
    number = normalise_insz(insz)
    if number is None:
        raise DirectoryError(
            "INVALID_INSZ", f"{insz!r} is not a valid INSZ (national-register or bis number)"
        )
    return number


def _check_period(start: dt.date, end: dt.date | None) -> None:
    if end is not None and end < start:
        raise DirectoryError("INVALID_PERIOD", f"period end {end} is before its start {start}")


_BY_PERSON = select(_t).where(_t.c.insz == bindparam("insz")).order_by(_t.c.start, _t.c.id)


def register(
    conn: Connection,
    *,
    insz: str,
    institution: Institution,
    capacity: int,
    start: dt.date,
    end: dt.date | None,
    phase: int | None = None,
    registry: Registry,
) -> RegisterResult:
    """Integrate a person: ``institution`` knows ``insz`` in ``capacity`` from ``start`` to ``end``."""
    number = _checked_insz(insz)
    if registry.capacity(institution.sector, capacity) is None:
        raise DirectoryError(
            "UNKNOWN_CAPACITY", f"capacity {capacity} is not defined for sector {institution.sector}"
        )
    _check_period(start, end)
    now = dt.datetime.now(dt.UTC)
    lines = [_line(r) for r in conn.execute(_BY_PERSON, {"insz": number})]
    same = [
        line
        for line in lines
        if line.institution == institution.kbo and line.capacity == capacity and line.overlaps(start, end)
    ]
    involved = {line.id for line in same}
    if same:
        keep = same[0]
        new_start = min(start, *(line.start for line in same))
        ends = [end, *(line.end for line in same)]
        new_end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
        new_phase = phase if phase is not None else keep.phase
        if (keep.start, keep.end, keep.phase) != (new_start, new_end, new_phase) or len(same) > 1:
            conn.execute(
                update(_t)
                .where(_t.c.id == keep.id)
                .values(start=new_start, end=new_end, phase=new_phase, last_change=now)
            )
            if len(same) > 1:
                conn.execute(delete(_t).where(_t.c.id.in_([line.id for line in same[1:]])))
            keep = PersonLine(
                id=keep.id,
                insz=number,
                institution=keep.institution,
                sector=keep.sector,
                institution_type=keep.institution_type,
                capacity=capacity,
                phase=new_phase,
                start=new_start,
                end=new_end,
                last_change=now,
                register=keep.register,
            )
        result_line, created = keep, False
    else:
        values = {
            "insz": number,
            "institution": institution.kbo,
            "sector": institution.sector,
            "institution_type": institution.institution_type,
            "capacity": capacity,
            "phase": phase,
            "start": start,
            "end": end,
            "last_change": now,
            "register": institution.register,
        }
        new_id = conn.execute(insert(_t).values(**values)).inserted_primary_key
        assert new_id is not None
        result_line = PersonLine(id=int(new_id[0]), **values)  # type: ignore[arg-type]
        created = True
    overlapping = [line for line in lines if line.id not in involved and line.overlaps(start, end)]
    return RegisterResult(line=result_line, overlapping=overlapping, created=created)


def unregister(
    conn: Connection,
    *,
    insz: str,
    institution: Institution,
    capacity: int,
    start: dt.date,
    end: dt.date | None = None,
) -> list[PersonLine]:
    """Close the institution's lines in ``capacity`` still active after the closing date; return them closed.

    The closing date (last day known) is ``end``, or ``start`` when no end is given. DirectoryError
    NO_INSCRIPTION when no line matches.
    """
    number = _checked_insz(insz)
    _check_period(start, end)
    closing = end if end is not None else start
    query = select(_t).where(
        _t.c.insz == number,
        _t.c.institution == institution.kbo,
        _t.c.capacity == capacity,
        _t.c.start <= closing,
        or_(_t.c.end.is_(None), _t.c.end > closing),
    )
    matching = [_line(r) for r in conn.execute(query)]
    if not matching:
        raise DirectoryError(
            "NO_INSCRIPTION",
            f"{institution.name} ({institution.kbo}) has no active inscription of this person in capacity "
            f"{capacity} after {closing}",
        )
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        update(_t).where(_t.c.id.in_([line.id for line in matching])).values(end=closing, last_change=now)
    )
    return [
        PersonLine(
            id=line.id,
            insz=line.insz,
            institution=line.institution,
            sector=line.sector,
            institution_type=line.institution_type,
            capacity=line.capacity,
            phase=line.phase,
            start=line.start,
            end=closing,
            last_change=now,
            register=line.register,
        )
        for line in matching
    ]


def list_lines(
    conn: Connection,
    *,
    insz: str,
    sector: int | None = None,
    register: QueryRegister = "ALL",
    on: dt.date | None = None,
) -> list[PersonLine]:
    """The person's inscriptions (ManageAccess LIST), optionally for one sector, one register, one date."""
    number = _checked_insz(insz)
    query = select(_t).where(_t.c.insz == number)
    if sector is not None:
        query = query.where(_t.c.sector == sector)
    if register != "ALL":
        query = query.where(_t.c.register == register)
    if on is not None:
        query = query.where(_t.c.start <= on, or_(_t.c.end.is_(None), _t.c.end >= on))
    return [_line(r) for r in conn.execute(query.order_by(_t.c.start, _t.c.id))]


# -- hot path ------------------------------------------------------------------------------------------------

_ON_DATE = and_(_t.c.start <= bindparam("on"), or_(_t.c.end.is_(None), _t.c.end >= bindparam("on")))

# No ``IN (…)`` list in these statements: an expanding bind parameter costs a re-render per call (measured 2×
# slower on SQLite); a person has few lines, so filtering them in Python is cheaper.
_INTEGRATION = select(_t).where(
    _t.c.insz == bindparam("insz"), _t.c.institution == bindparam("kbo"), _ON_DATE
)

_KNOWING = select(_t.c.institution).where(_t.c.insz == bindparam("insz"), _ON_DATE)


def integration(
    conn: Connection, *, insz: str, institution_kbo: str, capacities: Collection[int], on: dt.date
) -> PersonLine | None:
    """The line by which ``institution_kbo`` has integrated ``insz`` in one of ``capacities`` on ``on``.

    One query on the ``(insz, institution)`` index; ``insz`` must be the compact 11-digit form. Several
    matching lines: the one that started last.
    """
    if not capacities:
        return None
    best: Row[Any] | None = None
    for row in conn.execute(_INTEGRATION, {"insz": insz, "kbo": institution_kbo, "on": on}):
        if row.capacity in capacities and (best is None or (row.start, row.id) > (best.start, best.id)):
            best = row
    return _line(best) if best is not None else None


def institutions_knowing(
    conn: Connection, *, insz: str, institutions: Collection[str], on: dt.date
) -> set[str]:
    """Which of ``institutions`` (KBOs) have an active line for ``insz`` on ``on`` (in any capacity).

    One query on the ``insz`` prefix of the persons-directory indexes.
    """
    if not institutions:
        return set()
    wanted = institutions if isinstance(institutions, (set, frozenset)) else set(institutions)
    return {kbo for (kbo,) in conn.execute(_KNOWING, {"insz": insz, "on": on}) if kbo in wanted}


def active_lines(
    conn: Connection, *, inszs: Collection[str], on: dt.date
) -> dict[str, list[tuple[str, int, int]]]:
    """Every line active on ``on`` of each of ``inszs``: ``{insz: [(institution, sector, capacity), …]}``.

    For the fan-out of changes, a batch at a time: one query per 500 persons on the ``insz`` prefix of the
    persons-directory indexes. Persons without a line are absent from the answer.
    """
    found: dict[str, list[tuple[str, int, int]]] = {}
    ordered = sorted(set(inszs))
    for i in range(0, len(ordered), 500):
        rows = conn.execute(
            select(_t.c.insz, _t.c.institution, _t.c.sector, _t.c.capacity).where(
                _t.c.insz.in_(ordered[i : i + 500]), _ON_DATE
            ),
            {"on": on},
        )
        for insz, institution, sector, capacity in rows:
            found.setdefault(insz, []).append((institution, int(sector), int(capacity)))
    return found


class DirectoryReader:
    """The hub's per-message read of the persons directory, on one dedicated driver connection.

    :func:`integration` and :func:`institutions_knowing` in one indexed query, run through the raw driver:
    the hub asks both for every message, and SQLAlchemy's per-statement work was ~15% of the hub's CPU
    while the query itself is a few microseconds. The connection is detached from the pool and reads in
    autocommit, so every message sees registrations committed a moment before. Not thread-safe: one per
    event loop.
    """

    _SQL = (
        "SELECT institution, capacity, start, id, sector, institution_type FROM person_line "
        "WHERE insz = {p} AND start <= {p} "
        'AND ("end" IS NULL OR "end" >= {p})'
    )

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._sql = self._SQL.format(p="?" if self._sqlite else "%s")
        self._raw: Any = None

    def _connection(self) -> Any:
        if self._raw is None:
            proxied = self._engine.raw_connection()
            raw = proxied.driver_connection
            if raw is None:
                raise RuntimeError("the pool gave no driver connection")
            proxied.detach()
            if not self._sqlite:
                raw.autocommit = True
            self._raw = raw
        return self._raw

    def lookup(
        self,
        *,
        insz: str,
        institution_kbo: str,
        capacities: Collection[int],
        institutions: Collection[str],
        on: dt.date,
        managed: Mapping[int, str] | None = None,
    ) -> tuple[int | None, set[str]]:
        """(capacity of the line by which ``institution_kbo`` integrated ``insz`` in one of ``capacities``
        on ``on`` — the latest-started — or None; which of ``institutions`` know ``insz`` on ``on``).

        ``managed`` maps a sector to the KBO of the institution managing its secondary network: an active
        line of any member of that sector (institution type ≠ 0) makes the managing institution "know" the
        person, because it routes the message on to that member."""
        day: Any = on.isoformat() if self._sqlite else on
        try:
            cursor = self._connection().execute(self._sql, (insz, day, day))
            rows = cursor.fetchall()
        except Exception:
            self.close()
            raise
        best: tuple[Any, int, int] | None = None
        knowing: set[str] = set()
        for institution, capacity, start, line_id, sector, institution_type in rows:
            if institution in institutions:
                knowing.add(institution)
            if managed and institution_type != 0 and sector in managed:
                knowing.add(managed[sector])
            if institution == institution_kbo and capacity in capacities:
                key = (start, line_id, capacity)
                if best is None or key[:2] > best[:2]:
                    best = key
        return (best[2] if best is not None else None), knowing

    def close(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.close()
            self._raw = None


# -- bulk load -----------------------------------------------------------------------------------------------

_COLUMNS = (
    "insz",
    "institution",
    "sector",
    "institution_type",
    "capacity",
    "phase",
    "start",
    "end",
    "last_change",
    "register",
)
_COLUMN_LIST = ", ".join(f'"{c}"' for c in _COLUMNS)


def _batches(rows: Iterable[BulkRow], size: int) -> Iterator[list[BulkRow]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def bulk_load(
    engine: Engine,
    rows: Iterable[BulkRow],
    *,
    chunk: int = 50_000,
    drop_indexes: bool | None = None,
) -> int:
    """Append persons-directory lines fast; returns how many were written.

    Each row: ``(insz, institution_kbo, sector, institution_type, capacity, phase, start, end, register)``;
    rows are trusted (generated or exported data), not validated one by one. One transaction per ``chunk``
    rows: SQLite ``executemany``, PostgreSQL binary ``COPY``. With ``drop_indexes`` the two secondary indexes
    are dropped during the load and rebuilt after it (for 1M lines in random order ≈3× faster on SQLite than
    maintaining them row by row). Default (None): drop them when the table is empty and the first chunk is
    full — a large initial load; do such loads while the hub is not serving.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    now = dt.datetime.now(dt.UTC)
    write = _copy_postgresql if engine.dialect.name == "postgresql" else _insert_sqlite
    total = 0
    dropped = False
    with engine.connect() as conn:
        try:
            for batch in _batches(rows, chunk):
                with conn.begin():
                    if total == 0 and (
                        drop_indexes or (drop_indexes is None and len(batch) == chunk and _empty(conn))
                    ):
                        for index in PERSON_LINE_INDEXES:
                            conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
                        dropped = True
                    write(conn, batch, now)
                total += len(batch)
        finally:
            if dropped:
                with conn.begin():
                    for index in PERSON_LINE_INDEXES:
                        index.create(conn, checkfirst=True)
    return total


def _empty(conn: Connection) -> bool:
    return conn.exec_driver_sql("SELECT 1 FROM person_line LIMIT 1").first() is None


_SQLITE_INSERT = f"INSERT INTO person_line ({_COLUMN_LIST}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_PG_COPY = f"COPY person_line ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
_PG_TYPES = ["text", "text", "int4", "int4", "int4", "int4", "date", "date", "timestamptz", "text"]


def _insert_sqlite(conn: Connection, batch: list[BulkRow], now: dt.datetime) -> None:
    # the text forms SQLAlchemy's SQLite Date/DateTime types read back (SQLite keeps no zone: UTC)
    stamp = now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    params = [
        (i, k, s, t, c, p, st.isoformat(), None if e is None else e.isoformat(), stamp, r)
        for (i, k, s, t, c, p, st, e, r) in batch
    ]
    conn.exec_driver_sql(_SQLITE_INSERT, params)


def _copy_postgresql(conn: Connection, batch: list[BulkRow], now: dt.datetime) -> None:
    raw: Any = conn.connection.driver_connection
    dbapi_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    try:
        with raw.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
            copy.set_types(_PG_TYPES)
            for i, k, s, t, c, p, st, e, r in batch:
                copy.write_row((i, k, s, t, c, p, st, e, now, r))
    except dbapi_error as exc:
        # the same exception classes as a SQLAlchemy execute (IntegrityError, DataError …)
        raise DBAPIError.instance(_PG_COPY, None, exc, dbapi_error) from exc


# -- reference data ------------------------------------------------------------------------------------------


def seed_registry(conn: Connection, registry: Registry) -> dict[str, int]:
    """Write sectors, capacities and institutions to the hub database (idempotent).

    Sectors and capacities mirror the registry (added, changed, removed). Institutions are added or updated;
    an endpoint already set in the database is kept unless the registry carries one. Returns change counts.
    """
    return {
        "sectors": _seed_sectors(conn, registry),
        "capacities": _seed_capacities(conn, registry),
        "institutions": _seed_institutions(conn, registry),
    }


def _differs(row: Row[Any], values: dict[str, Any]) -> bool:
    return any(getattr(row, k) != v for k, v in values.items())


def _seed_sectors(conn: Connection, registry: Registry) -> int:
    st = sector_table
    changes = 0
    existing = {(r.code, r.institution_type): r for r in conn.execute(select(st))}
    wanted = {(s.code, s.institution_type): s for s in registry.sectors()}
    for key, s in wanted.items():
        values: dict[str, Any] = {
            "short_name": s.short_name,
            "short_name_fr": s.short_name_fr,
            "name_nl": s.name_nl,
            "name_fr": s.name_fr,
        }
        row = existing.get(key)
        if row is None:
            conn.execute(insert(st).values(code=s.code, institution_type=s.institution_type, **values))
        elif _differs(row, values):
            where = (st.c.code == s.code, st.c.institution_type == s.institution_type)
            conn.execute(update(st).where(*where).values(**values))
        else:
            continue
        changes += 1
    for code, itype in existing.keys() - wanted.keys():
        conn.execute(delete(st).where(st.c.code == code, st.c.institution_type == itype))
        changes += 1
    return changes


def _seed_capacities(conn: Connection, registry: Registry) -> int:
    ct = capacity_table
    changes = 0
    existing = {(r.sector, r.code): r for r in conn.execute(select(ct))}
    wanted = {(c.sector, c.code): c for c in registry.capacities()}
    for key, c in wanted.items():
        values: dict[str, Any] = {"label_fr": c.label_fr, "label_nl": c.label_nl, "label_de": c.label_de}
        row = existing.get(key)
        if row is None:
            conn.execute(insert(ct).values(sector=c.sector, code=c.code, **values))
        elif _differs(row, values):
            conn.execute(update(ct).where(ct.c.id == row.id).values(**values))
        else:
            continue
        changes += 1
    for key in existing.keys() - wanted.keys():
        conn.execute(delete(ct).where(ct.c.id == existing[key].id))
        changes += 1
    return changes


def _seed_institutions(conn: Connection, registry: Registry) -> int:
    it = institution_table
    changes = 0
    existing = {r.kbo: r for r in conn.execute(select(it))}
    for inst in registry.institutions():
        values: dict[str, Any] = {
            "name": inst.name,
            "sector": inst.sector,
            "institution_type": inst.institution_type,
            "service": inst.service,
        }
        if inst.endpoint is not None:
            values["endpoint"] = inst.endpoint
        row = existing.get(inst.kbo)
        if row is None:
            conn.execute(insert(it).values(kbo=inst.kbo, **values))
        elif _differs(row, values):
            conn.execute(update(it).where(it.c.kbo == inst.kbo).values(**values))
        else:
            continue
        changes += 1
    return changes


def set_endpoint(conn: Connection, kbo: str, url: str | None) -> None:
    """Set (or clear) the service endpoint of an institution in the hub database."""
    result = conn.execute(
        update(institution_table).where(institution_table.c.kbo == kbo).values(endpoint=url)
    )
    if result.rowcount == 0:
        raise DirectoryError("UNKNOWN_INSTITUTION", f"no institution {kbo} in the hub database")
