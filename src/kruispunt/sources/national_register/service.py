"""National Register logic: household and address history on top of the person logic shared with the bis
register (:class:`kruispunt.sources.persons.PersonRegister`: identification, phonetic search, proofs, meta,
bulk-load sessions), and the bulk load of simulated people.

Functions take an explicit connection and keyword-only arguments (docs/architecture.md); the API module
only translates HTTP to these calls.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import Connection, Engine, select

from kruispunt.simulate import PopulationBatch
from kruispunt.sources import persons
from kruispunt.sources.national_register.models import address_table, member_table, meta_table, person_table
from kruispunt.sources.national_register.schemas import (
    AddressHistoryData,
    AddressPeriodOut,
    FamilyCompositionData,
    MemberOut,
    SocialInquiryData,
)
from kruispunt.sources.persons import PersonRegister, PersonTables

_MEMBER = member_table
TABLES = PersonTables(person=person_table, address=address_table, meta=meta_table, dependents=(_MEMBER,))
REGISTER = PersonRegister(TABLES)
_RELATIONSHIP_ORDER = {"head": 0, "spouse": 1, "partner": 2, "child": 3, "other": 4}

# shared with the bis register: see PersonRegister for each
identify_by_insz = REGISTER.identify_by_insz
search = REGISTER.search
identify_person = REGISTER.identify_person
address_history = REGISTER.address_history
verify_proof = REGISTER.verify_proof
get_meta = REGISTER.get_meta
set_meta = REGISTER.set_meta
count_persons = REGISTER.count_persons
ensure_indexes = REGISTER.ensure_indexes
clear_population = REGISTER.clear_population
bulk_session = REGISTER.bulk_session


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
        members=[MemberOut.model_validate(r, from_attributes=True) for r in rows],
    )


def social_inquiry(conn: Connection, *, insz: str) -> SocialInquiryData | None:
    """``social_inquiry`` v1, the National Register's part: the person and their household."""
    person = identify_by_insz(conn, insz=insz)
    if person is None:
        return None
    household = family_composition(conn, insz=insz)
    return SocialInquiryData(person=person, household=household.members if household else [])


def address_history_data(conn: Connection, *, insz: str) -> AddressHistoryData | None:
    """``address_history`` v1: all main residences of the person, oldest first; None when there are none."""
    periods = address_history(conn, insz=insz)
    if not periods:
        return None
    return AddressHistoryData(
        addresses=[AddressPeriodOut.model_validate(a, from_attributes=True) for a in periods]
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


def load_population(engine: Engine, batches: Iterable[PopulationBatch]) -> int:
    """Bulk-load simulated batches, one transaction per batch; returns the number of people loaded."""
    return REGISTER.load_population(engine, batches, load_batch)
