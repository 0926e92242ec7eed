"""Person and address logic shared by the National Register and the bis register.

Both registers keep a ``person`` table and an ``address`` table of the same shape in their own database;
these functions take the tables (:class:`PersonTables`) and an explicit connection. Bulk loading uses
``executemany`` on SQLite and ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, Table, delete, func, inspect, literal, select
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
        return AddressOut(
            street=self.street,
            house_number=self.house_number,
            postal_code=self.postal_code,
            municipality=self.municipality,
            nis_code=self.nis_code,
        )


def _person_columns(t: PersonTables) -> list[Any]:
    p = t.person.c
    return [
        p.insz,
        p.last_name,
        p.first_names,
        p.birth_date,
        p.sex,
        p.nationality,
        p.civil_state,
        p.death_date,
    ]


def _address_columns(t: PersonTables) -> list[Any]:
    a = t.address.c
    return [
        a.insz,
        a.street,
        a.house_number,
        a.postal_code,
        a.municipality,
        a.nis_code,
        a.country,
        a.start_date,
        a.end_date,
    ]


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
    return PersonOut(
        insz=row.insz,
        last_name=row.last_name,
        first_names=row.first_names,
        birth_date=row.birth_date,
        sex=row.sex,
        nationality=row.nationality,
        civil_state=row.civil_state,
        death_date=row.death_date,
        address=address,
    )


def current_addresses(conn: Connection, tables: PersonTables, inszs: Sequence[str]) -> dict[str, AddressOut]:
    """The current address of each person (for the deceased: the last one)."""
    found: dict[str, tuple[bool, date, AddressOut]] = {}
    a = tables.address.c
    for i in range(0, len(inszs), 500):
        rows = conn.execute(select(*_address_columns(tables)).where(a.insz.in_(inszs[i : i + 500]))).all()
        for row in rows:
            rank = (row.end_date is None, row.start_date)
            best = found.get(row.insz)
            if best is None or rank > best[:2]:
                found[row.insz] = (*rank, _period(row).out())
    return {insz: value[2] for insz, value in found.items()}


def identify_by_insz(conn: Connection, tables: PersonTables, *, insz: str) -> PersonOut | None:
    row = conn.execute(select(*_person_columns(tables)).where(tables.person.c.insz == insz)).first()
    if row is None:
        return None
    return _person_out(row, current_addresses(conn, tables, [insz]).get(insz))


def search(
    conn: Connection,
    tables: PersonTables,
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
    window (the given date — a whole month or year when incomplete — widened by ``tolerance_years`` on each
    side; an incomplete stored date matches when its range overlaps), the sex is equal when given, and one
    of the first names matches phonetically when ``first_name`` is given. Ranking: exact last name (ignoring
    case, accents and spaces) first, then exact birth date, then exact first name, then INSZ.
    """
    key = phonetic_key(last_name)
    if not key:
        return []
    low, high = birth_window(birth_date, tolerance_years)
    p = tables.person.c
    query = select(*_person_columns(tables), p.last_name_norm).where(
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
        rank = (row.last_name_norm != wanted_norm, row.birth_date != birth_date, not exact_first, row.insz)
        candidates.append((rank, row))
    candidates.sort(key=lambda item: item[0])
    chosen = [row for _, row in candidates[:maximum]]
    addresses = current_addresses(conn, tables, [row.insz for row in chosen])
    return [_person_out(row, addresses.get(row.insz)) for row in chosen]


def identify_person(
    conn: Connection, tables: PersonTables, *, request: IdentifyPersonRequest, person: str | None
) -> list[PersonOut]:
    """``identify_person`` v1: by ``request.insz`` (or the envelope's person), else by phonetic search."""
    if request.insz is None and request.last_name is not None:
        assert request.birth_date is not None  # enforced by the schema
        return search(
            conn,
            tables,
            last_name=request.last_name,
            birth_date=request.birth_date,
            first_name=request.first_name,
            sex=request.sex,
            tolerance_years=request.tolerance_years,
            maximum=request.maximum,
        )
    insz = request.insz or person
    found = identify_by_insz(conn, tables, insz=insz) if insz else None
    return [found] if found else []


def address_history(conn: Connection, tables: PersonTables, *, insz: str) -> list[AddressPeriod] | None:
    """Every address period of a person, oldest first; None when the register does not hold the person."""
    if conn.execute(select(tables.person.c.insz).where(tables.person.c.insz == insz)).first() is None:
        return None
    a = tables.address.c
    rows = conn.execute(
        select(*_address_columns(tables)).where(a.insz == insz).order_by(a.start_date, a.id)
    ).all()
    return [_period(row) for row in rows]


def verify_proof(
    conn: Connection,
    tables: PersonTables,
    *,
    insz: str,
    sis_card_number: str | None = None,
    identity_card_number: str | None = None,
    person_data: PersonDataIn | None = None,
) -> VerifyReply | None:
    """Check a proof that an institution knows the person; None when the register does not hold the INSZ.

    As in IdentifyPerson ``VerificationData``, the proof holds when *one* of the given elements matches: the
    SIS card number, the identity card number, or the person data (last name ignoring case, accents, spaces
    and hyphens; the birth date's parts known on both sides equal; the first name, when given, one of the
    person's first names).
    """
    p = tables.person.c
    row = conn.execute(
        select(
            p.insz, p.last_name_norm, p.first_names, p.birth_date, p.sis_card_number, p.identity_card_number
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


# ----------------------------------------------------------------------------------------------- meta


def get_meta(conn: Connection, tables: PersonTables) -> dict[str, str]:
    return {row.key: row.value for row in conn.execute(select(tables.meta.c.key, tables.meta.c.value))}


def set_meta(conn: Connection, tables: PersonTables, values: dict[str, str]) -> None:
    m = tables.meta
    conn.execute(delete(m).where(m.c.key.in_(list(values))))
    conn.execute(m.insert(), [{"key": k, "value": v} for k, v in values.items()])


def count_persons(conn: Connection, tables: PersonTables) -> int:
    return int(conn.execute(select(func.count()).select_from(tables.person)).scalar_one())


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


@contextmanager
def bulk_session(engine: Engine, tables: Sequence[Table]) -> Iterator[Connection]:
    """A connection tuned for bulk loading into ``tables`` (parents first).

    When all the tables are empty, their secondary indexes (and on PostgreSQL their foreign keys) are dropped
    and rebuilt at the end, which is much faster than maintaining them row by row; on SQLite foreign-key
    checks are off and the page cache is larger for the duration. The caller commits per batch
    (``with conn.begin(): …``).
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
