"""Person and address logic shared by the National Register and the bis register.

Both registers keep a ``person`` table and an ``address`` table of the same shape in their own database;
these functions take the tables (:class:`PersonTables`) and an explicit connection. Bulk loading uses
``executemany`` on SQLite and ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    Table,
    bindparam,
    delete,
    func,
    inspect,
    literal,
    select,
)
from sqlalchemy.schema import AddConstraint, DropConstraint

from kruispunt.simulate import PopulationBatch
from kruispunt.sources.common import (
    AddressOut,
    IdentifyPersonRequest,
    PersonDataIn,
    PersonOut,
    VerifyReply,
    birth_window,
    date_bounds,
    dates_compatible,
    first_name_matches,
    normalise_name,
    parse_incomplete_date,
    phonetic_key,
)

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class PersonTables:
    person: Table
    address: Table
    meta: Table
    dependents: tuple[Table, ...] = ()
    """Further tables referring to ``person`` (e.g. household membership), loaded and cleared with it."""

    @property
    def loaded(self) -> list[Table]:
        """The bulk-loaded tables, parents first."""
        return [self.person, self.address, *self.dependents]


@dataclass(frozen=True)
class AddressPeriod:
    street: str
    house_number: str
    postal_code: str
    municipality: str
    nis_code: int | None
    country: str
    start: date
    end: date | None

    def out(self) -> AddressOut:
        return AddressOut.model_validate(self, from_attributes=True)


# the person columns of an identify_person answer: every field of PersonOut but the address
_PERSON_OUT_COLUMNS = tuple(name for name in PersonOut.model_fields if name != "address")


def _person_columns(t: PersonTables) -> list[Any]:
    return [t.person.c[name] for name in _PERSON_OUT_COLUMNS]


def _address_columns(t: PersonTables) -> list[Any]:
    return [t.address.c[name] for name in ADDRESS_COLUMNS]


def _period(row: Any) -> AddressPeriod:
    return AddressPeriod(
        street=row.street,
        house_number=row.house_number,
        postal_code=row.postal_code,
        municipality=row.municipality,
        nis_code=row.nis_code,
        country=row.country,
        start=row.start_date,
        end=row.end_date,
    )


def _person_out(row: Any, address: AddressOut | None) -> PersonOut:
    return PersonOut(**{name: getattr(row, name) for name in _PERSON_OUT_COLUMNS}, address=address)


class PersonRegister:
    """The person/address operations of one register, bound to the tables of its own database.

    Each register's ``service`` module holds one instance and exposes its methods under its own names;
    methods take an explicit connection (or engine) and keyword-only arguments (docs/architecture.md).
    """

    def __init__(self, tables: PersonTables) -> None:
        self.tables = tables
        # built once: constructing a select per INSZ was more than half of a register's CPU in a batch
        by_insz: BindParameter[str] = bindparam("insz")
        self._person_by_insz = select(*_person_columns(tables)).where(tables.person.c.insz == by_insz)
        self._addresses_of = select(*_address_columns(tables)).where(tables.address.c.insz == by_insz)

    @staticmethod
    def _current_of(rows: Iterable[Any]) -> dict[str, AddressOut]:
        """Per INSZ, the current address among ``rows`` (for the deceased: the last one)."""
        found: dict[str, tuple[bool, date, AddressOut]] = {}
        for row in rows:
            rank = (row.end_date is None, row.start_date)
            best = found.get(row.insz)
            if best is None or rank > best[:2]:
                found[row.insz] = (*rank, _period(row).out())
        return {insz: value[2] for insz, value in found.items()}

    def current_addresses(self, conn: Connection, inszs: Sequence[str]) -> dict[str, AddressOut]:
        """The current address of each person (for the deceased: the last one)."""
        if len(inszs) == 1:
            return self._current_of(conn.execute(self._addresses_of, {"insz": inszs[0]}).all())
        found: dict[str, AddressOut] = {}
        a = self.tables.address.c
        for i in range(0, len(inszs), 500):
            query = select(*_address_columns(self.tables)).where(a.insz.in_(inszs[i : i + 500]))
            found.update(self._current_of(conn.execute(query).all()))
        return found

    def identify_by_insz(self, conn: Connection, *, insz: str) -> PersonOut | None:
        """The person with this INSZ, with the current address; None if the register does not hold it."""
        row = conn.execute(self._person_by_insz, {"insz": insz}).first()
        if row is None:
            return None
        return _person_out(row, self.current_addresses(conn, [insz]).get(insz))

    def search(
        self,
        conn: Connection,
        *,
        last_name: str,
        birth_date: str,
        first_name: str | None = None,
        sex: str | None = None,
        tolerance_years: int = 0,
        maximum: int = 10,
    ) -> list[PersonOut]:
        """Phonetic search (IdentifyPerson ``PhoneticCriteria``).

        A person matches when the phonetic key of the last name is equal, the birth date lies in the searched
        window (the given date — a whole month or year when incomplete — widened by ``tolerance_years`` on
        each side; an incomplete stored date matches when its range overlaps), the sex is equal when given,
        and one of the first names matches phonetically when ``first_name`` is given. Ranking: exact last
        name (ignoring case, accents and spaces) first, then exact birth date, then exact first name, then
        INSZ.
        """
        key = phonetic_key(last_name)
        if not key:
            return []
        low, high = birth_window(birth_date, tolerance_years)
        p = self.tables.person.c
        query = select(*_person_columns(self.tables), p.last_name_norm).where(
            p.last_name_key == key, p.birth_year.between(low.year, high.year)
        )
        if sex is not None:
            query = query.where(p.sex == sex)
        wanted_norm = normalise_name(last_name)
        wanted_first = normalise_name(first_name) if first_name else None
        candidates = []
        for row in conn.execute(query):
            first, last = date_bounds(*parse_incomplete_date(row.birth_date))
            if last < low or first > high:
                continue
            if first_name is not None and not first_name_matches(first_name, row.first_names):
                continue
            exact_first = wanted_first is not None and wanted_first in {
                normalise_name(n) for n in [row.first_names, *row.first_names.split()]
            }
            rank = (
                row.last_name_norm != wanted_norm,
                row.birth_date != birth_date,
                not exact_first,
                row.insz,
            )
            candidates.append((rank, row))
        candidates.sort(key=lambda item: item[0])
        chosen = [row for _, row in candidates[:maximum]]
        addresses = self.current_addresses(conn, [row.insz for row in chosen])
        return [_person_out(row, addresses.get(row.insz)) for row in chosen]

    def identify_person(
        self, conn: Connection, *, request: IdentifyPersonRequest, person: str | None
    ) -> list[PersonOut]:
        """``identify_person`` v1: by ``request.insz`` (or the envelope's person), else by phonetic search."""
        if request.insz is None and request.last_name is not None:
            assert request.birth_date is not None  # enforced by the schema
            criteria = request.model_dump(
                include={"last_name", "birth_date", "first_name", "sex", "tolerance_years", "maximum"}
            )
            return self.search(conn, **criteria)
        insz = request.insz or person
        found = self.identify_by_insz(conn, insz=insz) if insz else None
        return [found] if found else []

    def address_history(self, conn: Connection, *, insz: str) -> list[AddressPeriod] | None:
        """Every address period of a person, oldest first; None when the register does not hold the person."""
        p = self.tables.person.c
        if conn.execute(select(p.insz).where(p.insz == insz)).first() is None:
            return None
        a = self.tables.address.c
        rows = conn.execute(
            select(*_address_columns(self.tables)).where(a.insz == insz).order_by(a.start_date, a.id)
        ).all()
        return [_period(row) for row in rows]

    def verify_proof(
        self,
        conn: Connection,
        *,
        insz: str,
        sis_card_number: str | None = None,
        identity_card_number: str | None = None,
        person_data: PersonDataIn | None = None,
    ) -> VerifyReply | None:
        """Check a proof that an institution knows the person; None when the register does not hold the INSZ.

        As in IdentifyPerson ``VerificationData``, the proof holds when *one* of the given elements matches:
        the SIS card number, the identity card number, or the person data (last name ignoring case, accents,
        spaces and hyphens; the birth date's parts known on both sides equal; the first name, when given, one
        of the person's first names).
        """
        p = self.tables.person.c
        row = conn.execute(
            select(
                p.insz,
                p.last_name_norm,
                p.first_names,
                p.birth_date,
                p.sis_card_number,
                p.identity_card_number,
            ).where(p.insz == insz)
        ).first()
        if row is None:
            return None
        reasons: list[str] = []
        if sis_card_number is not None:
            if sis_card_number == row.sis_card_number:
                return VerifyReply(match=True)
            reasons.append("SIS card number does not match")
        if identity_card_number is not None:
            if identity_card_number == row.identity_card_number:
                return VerifyReply(match=True)
            reasons.append("identity card number does not match")
        if person_data is not None:
            problems = []
            if normalise_name(person_data.last_name) != row.last_name_norm:
                problems.append("last name")
            if not dates_compatible(person_data.birth_date, row.birth_date):
                problems.append("birth date")
            if person_data.first_name is not None:
                given = normalise_name(person_data.first_name)
                known = {normalise_name(n) for n in [row.first_names, *row.first_names.split()]}
                if given not in known:
                    problems.append("first name")
            if not problems:
                return VerifyReply(match=True)
            reasons.append(f"person data do not match ({', '.join(problems)})")
        return VerifyReply(match=False, reason="; ".join(reasons))

    # ------------------------------------------------------------------------------------- meta, loading

    def get_meta(self, conn: Connection) -> dict[str, str]:
        m = self.tables.meta.c
        return {row.key: row.value for row in conn.execute(select(m.key, m.value))}

    def set_meta(self, conn: Connection, values: dict[str, str]) -> None:
        m = self.tables.meta
        conn.execute(delete(m).where(m.c.key.in_(list(values))))
        conn.execute(m.insert(), [{"key": k, "value": v} for k, v in values.items()])

    def count_persons(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(self.tables.person)).scalar_one())

    def ensure_indexes(self, conn: Connection) -> None:
        """Re-create indexes an interrupted bulk load may have left out."""
        ensure_indexes(conn, self.tables.loaded)

    def clear_population(self, conn: Connection) -> None:
        """Delete every row of the register (children first), the meta rows included."""
        clear(conn, [*reversed(self.tables.loaded), self.tables.meta])

    @contextmanager
    def bulk_session(self, engine: Engine) -> Iterator[Connection]:
        """A connection tuned for bulk loading into the register's tables (:func:`bulk_session`)."""
        with bulk_session(engine, self.tables.loaded) as conn:
            yield conn

    def load_population(
        self,
        engine: Engine,
        batches: Iterable[PopulationBatch],
        load_batch: Callable[[Connection, PopulationBatch], int],
    ) -> int:
        """Bulk-load simulated batches with the register's ``load_batch``, one transaction per batch;
        returns the number of people loaded."""
        total = 0
        with self.bulk_session(engine) as conn:
            for batch in batches:
                with conn.begin():
                    total += load_batch(conn, batch)
        return total


def clear(conn: Connection, tables: Iterable[Table]) -> None:
    """Delete every row of the given tables (children first)."""
    for table in tables:
        conn.execute(delete(table))


# ---------------------------------------------------------------------------------------- bulk loading


def ensure_indexes(conn: Connection, tables: Iterable[Table]) -> None:
    """Create any index (and, on PostgreSQL, foreign key) of these tables that is missing, as an
    interrupted bulk load can leave them."""
    tables = list(tables)
    for table in tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        inspector = inspect(conn)
        for table in tables:
            present = {fk["name"] for fk in inspector.get_foreign_keys(table.name)}
            for fk in table.foreign_key_constraints:
                if fk.name not in present:
                    conn.execute(AddConstraint(fk))


def analyze(conn: Connection, tables: Iterable[Table]) -> None:
    """Refresh the planner statistics after a bulk load.

    Without them PostgreSQL misjudges a freshly loaded table: a lookup by INSZ became a parallel bitmap scan
    of 70 ms instead of a sub-millisecond index probe.
    """
    names = [table.name for table in tables]
    if conn.dialect.name == "postgresql":
        for name in names:
            conn.exec_driver_sql(f"ANALYZE {name}")
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        for name in names:
            conn.exec_driver_sql(f"ANALYZE {name}")
    conn.commit()


@contextmanager
def bulk_session(engine: Engine, tables: Sequence[Table]) -> Iterator[Connection]:
    """A connection tuned for bulk loading into ``tables`` (parents first).

    When all the tables are empty, their secondary indexes (and on PostgreSQL their foreign keys) are dropped
    and rebuilt at the end, which is much faster than maintaining them row by row; on SQLite foreign-key
    checks are off and the page cache is larger for the duration. Statistics are refreshed at the end. The
    caller commits per batch (``with conn.begin(): …``).
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
        else:
            conn.exec_driver_sql("SET synchronous_commit = off")
        empty = all(conn.execute(select(literal(1)).select_from(t).limit(1)).first() is None for t in tables)
        if empty:
            if not sqlite:
                for table in reversed(tables):
                    for fk in table.foreign_key_constraints:
                        conn.execute(DropConstraint(fk))
            for table in tables:
                for index in table.indexes:
                    index.drop(conn)
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            ensure_indexes(conn, tables)
            conn.commit()
            analyze(conn, tables)
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
            else:
                conn.exec_driver_sql("SET synchronous_commit = on")
            conn.commit()


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert many rows fast: ``COPY … FROM STDIN`` on PostgreSQL, one ``executemany`` elsewhere.

    Dates are passed as ``YYYY-MM-DD`` text, which both engines read into DATE columns.
    """
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(rows))  # noqa: S608


def dates_text(values: Array) -> list[str | None]:
    text = np.datetime_as_string(values, unit="D").astype(object)
    text[np.isnat(values)] = None
    return list(text.tolist())


def _none_if(values: Array, empty: Any) -> list[Any]:
    out = values.astype(object)
    out[values == empty] = None
    return list(out.tolist())


PERSON_COLUMNS = (
    "insz",
    "last_name",
    "first_names",
    "birth_date",
    "birth_year",
    "sex",
    "nationality",
    "civil_state",
    "death_date",
    "last_name_key",
    "last_name_norm",
    "sis_card_number",
    "identity_card_number",
)
ADDRESS_COLUMNS = (
    "insz",
    "street",
    "house_number",
    "postal_code",
    "municipality",
    "nis_code",
    "country",
    "start_date",
    "end_date",
)


def person_rows(batch: PopulationBatch, positions: Array) -> list[tuple[Any, ...]]:
    """Rows for ``PERSON_COLUMNS`` of the people at ``positions`` of a simulated PopulationBatch, in INSZ
    order (inserting in primary-key order keeps the B-tree writes local)."""
    positions = positions[np.argsort(batch.insz[positions], kind="stable")]
    last = batch.last_name[positions].tolist()
    return list(
        zip(
            batch.insz[positions].tolist(),
            last,
            batch.first_names[positions].tolist(),
            batch.birth_date[positions].tolist(),
            batch.birth_year[positions].astype(np.int64).tolist(),
            _none_if(batch.sex[positions], ""),
            batch.nationality[positions].tolist(),
            _none_if(batch.civil_state[positions], 0),
            dates_text(batch.death_date[positions]),
            [phonetic_key(n) for n in last],
            [normalise_name(n) for n in last],
            batch.sis_card_number[positions].tolist(),
            batch.identity_card_number[positions].tolist(),
            strict=True,
        )
    )


def address_rows(batch: PopulationBatch, keep_person: Array) -> list[tuple[Any, ...]]:
    """Rows for ``ADDRESS_COLUMNS`` of the address periods of the people selected by ``keep_person``."""
    a = batch.addresses
    if len(a) == 0:
        return []
    rows = np.flatnonzero(keep_person[a.person_index - batch.index[0]])
    return list(
        zip(
            a.insz[rows].tolist(),
            a.street[rows].tolist(),
            a.house_number[rows].tolist(),
            a.postal_code[rows].tolist(),
            a.municipality[rows].tolist(),
            _none_if(a.nis_code[rows], -1),
            a.country[rows].tolist(),
            dates_text(a.start[rows]),
            dates_text(a.end[rows]),
            strict=True,
        )
    )
