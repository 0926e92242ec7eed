"""National Register logic: identification, phonetic search, household, address history, proofs, bulk load.

Functions take an explicit connection and keyword-only arguments (docs/architecture.md); the API module
only translates HTTP to these calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import Connection, Engine, select

from kruispunt.simulate import PopulationBatch
from kruispunt.sources import persons
from kruispunt.sources.common import IdentifyPersonRequest, PersonDataIn, PersonOut, VerifyReply
from kruispunt.sources.national_register.models import address_table, member_table, meta_table, person_table
from kruispunt.sources.national_register.schemas import AddressPeriodOut, FamilyCompositionData, MemberOut
from kruispunt.sources.persons import AddressPeriod, PersonTables

TABLES = PersonTables(person=person_table, address=address_table, meta=meta_table)
_MEMBER = member_table
_RELATIONSHIP_ORDER = {"head": 0, "spouse": 1, "partner": 2, "child": 3, "other": 4}


def identify_by_insz(conn: Connection, *, insz: str) -> PersonOut | None:
    """The person with this national-register number, with the current address; None if not held."""
    return persons.identify_by_insz(conn, TABLES, insz=insz)


def search(
    conn: Connection,
    *,
    last_name: str,
    birth_date: str,
    first_name: str | None = None,
    sex: str | None = None,
    tolerance_years: int = 0,
    maximum: int = 10,
) -> list[PersonOut]:
    """Phonetic search; see :func:`kruispunt.sources.persons.search` for matching and ranking."""
    return persons.search(
        conn,
        TABLES,
        last_name=last_name,
        birth_date=birth_date,
        first_name=first_name,
        sex=sex,
        tolerance_years=tolerance_years,
        maximum=maximum,
    )


def identify_person(
    conn: Connection, *, request: IdentifyPersonRequest, person: str | None
) -> list[PersonOut]:
    """``identify_person`` v1: by ``request.insz`` (or the envelope's person) or by phonetic search."""
    return persons.identify_person(conn, TABLES, request=request, person=person)


def family_composition(conn: Connection, *, insz: str) -> FamilyCompositionData | None:
    """The household the person lives in (for the deceased: the last one), with each member's relationship
    to its head; None when the register holds no household for this INSZ."""
    memberships = conn.execute(
        select(_MEMBER.c.household_id, _MEMBER.c.end_date).where(_MEMBER.c.insz == insz)
    ).all()
    if not memberships:
        return None
    current = [m for m in memberships if m.end_date is None]
    household_id, ended = (
        (current[0].household_id, False)
        if current
        else (max(memberships, key=lambda m: m.end_date).household_id, True)
    )
    p = person_table.c
    query = (
        select(p.insz, p.last_name, p.first_names, p.birth_date, p.sex, _MEMBER.c.relationship)
        .join(_MEMBER, _MEMBER.c.insz == p.insz)
        .where(_MEMBER.c.household_id == household_id)
    )
    if not ended:
        query = query.where(_MEMBER.c.end_date.is_(None))
    rows = sorted(
        conn.execute(query).all(),
        key=lambda r: (_RELATIONSHIP_ORDER.get(r.relationship, 9), r.birth_date, r.insz),
    )
    return FamilyCompositionData(
        household_id=household_id,
        members=[
            MemberOut(
                insz=r.insz,
                last_name=r.last_name,
                first_names=r.first_names,
                birth_date=r.birth_date,
                sex=r.sex,
                relationship=r.relationship,
            )
            for r in rows
        ],
    )


def address_history(conn: Connection, *, insz: str) -> list[AddressPeriod] | None:
    """All main residences of the person, oldest first; None when the person is not held."""
    return persons.address_history(conn, TABLES, insz=insz)


def address_history_out(periods: list[AddressPeriod]) -> list[AddressPeriodOut]:
    return [
        AddressPeriodOut(
            street=a.street,
            house_number=a.house_number,
            postal_code=a.postal_code,
            municipality=a.municipality,
            nis_code=a.nis_code,
            start=a.start,
            end=a.end,
        )
        for a in periods
    ]


def verify_proof(
    conn: Connection,
    *,
    insz: str,
    sis_card_number: str | None = None,
    identity_card_number: str | None = None,
    person_data: PersonDataIn | None = None,
) -> VerifyReply | None:
    """Check a proof of knowledge of the person; None when the register does not hold the INSZ."""
    return persons.verify_proof(
        conn,
        TABLES,
        insz=insz,
        sis_card_number=sis_card_number,
        identity_card_number=identity_card_number,
        person_data=person_data,
    )


# ------------------------------------------------------------------------------------------- loading

MEMBER_COLUMNS = ("household_id", "insz", "relationship", "start_date", "end_date")


def load_batch(conn: Connection, batch: PopulationBatch) -> int:
    """Insert the national-register people of one simulated batch (bis numbers are skipped); returns how
    many people were inserted."""
    keep = ~batch.is_bis
    positions = np.flatnonzero(keep)
    persons.bulk_insert(conn, TABLES.person, persons.PERSON_COLUMNS, persons.person_rows(batch, positions))
    persons.bulk_insert(conn, TABLES.address, persons.ADDRESS_COLUMNS, persons.address_rows(batch, keep))
    in_household = positions[batch.household_id[positions] >= 0]
    members = list(
        zip(
            batch.household_id[in_household].tolist(),
            batch.insz[in_household].tolist(),
            batch.relationship[in_household].tolist(),
            persons.dates_text(batch.address_start[in_household]),
            persons.dates_text(batch.death_date[in_household]),
            strict=True,
        )
    )
    persons.bulk_insert(conn, _MEMBER, MEMBER_COLUMNS, members)
    return len(positions)


@contextmanager
def bulk_session(engine: Engine) -> Iterator[Connection]:
    """A connection tuned for :func:`load_batch` calls (:func:`kruispunt.sources.persons.bulk_session`)."""
    with persons.bulk_session(engine, [TABLES.person, TABLES.address, _MEMBER]) as conn:
        yield conn


def load_population(engine: Engine, batches: Iterable[PopulationBatch]) -> int:
    """Bulk-load simulated batches, one transaction per batch; returns the number of people loaded."""
    total = 0
    with bulk_session(engine) as conn:
        for batch in batches:
            with conn.begin():
                total += load_batch(conn, batch)
    return total


def ensure_indexes(conn: Connection) -> None:
    """Re-create indexes an interrupted bulk load may have left out."""
    persons.ensure_indexes(conn, [TABLES.person, TABLES.address, _MEMBER])


def clear_population(conn: Connection) -> None:
    """Delete every person, address, household membership and meta row."""
    persons.clear(conn, [_MEMBER, TABLES.address, TABLES.person, TABLES.meta])


def get_meta(conn: Connection) -> dict[str, str]:
    return persons.get_meta(conn, TABLES)


def set_meta(conn: Connection, values: dict[str, str]) -> None:
    persons.set_meta(conn, TABLES, values)


def count_persons(conn: Connection) -> int:
    return persons.count_persons(conn, TABLES)
