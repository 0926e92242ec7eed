"""National Register logic: household and address history on top of the person logic shared with the bis
register (:class:`kruispunt.sources.persons.PersonRegister`: identification, phonetic search, proofs, meta,
bulk-load sessions), and the bulk load of simulated people.

Functions take an explicit connection and keyword-only arguments (docs/architecture.md); the API module
only translates HTTP to these calls. The ``record_*`` functions write an event (a move, a household change,
a death) and queue the changes it makes for the network in the caller's transaction: both or neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Row, func, insert, select, text, update

from kruispunt.simulate import PopulationBatch
from kruispunt.sources import changes, persons
from kruispunt.sources.common import WriteRefused
from kruispunt.sources.national_register.models import (
    address_table,
    change_outbox_table,
    member_table,
    meta_table,
    person_table,
)
from kruispunt.sources.national_register.schemas import (
    AddressHistoryData,
    AddressPeriodOut,
    DeathIn,
    FamilyCompositionData,
    HouseholdMoveIn,
    MemberOut,
    MoveIn,
    SocialInquiryData,
)
from kruispunt.sources.persons import PersonRegister, PersonTables

_MEMBER = member_table
TABLES = PersonTables(person=person_table, address=address_table, meta=meta_table, dependents=(_MEMBER,))
REGISTER = PersonRegister(TABLES)
_RELATIONSHIP_ORDER = {"head": 0, "spouse": 1, "partner": 2, "child": 3, "other": 4}
_DAY = dt.timedelta(days=1)

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


# ------------------------------------------------------------------------------------ recording events

SOURCE = "0362475538"
"""The National Register's KBO (``network/data/institutions.yaml``): the source of the changes it records."""


def _queue(conn: Connection, change_type: str, insz: str, effective: dt.date, data: dict[str, Any]) -> str:
    change = changes.person_change(
        source=SOURCE, change_type=change_type, insz=insz, effective=effective, data=data
    )
    return changes.queue_change(conn, change_outbox_table, change)


def _person(conn: Connection, insz: str) -> Any:
    """The person's row, locked until the caller's transaction ends: two events of one person are recorded
    one after the other (on SQLite the database has one writer anyway)."""
    p = person_table.c
    query = select(p.insz, p.birth_date, p.death_date).where(p.insz == insz).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise WriteRefused(404, "PERSON_NOT_FOUND", f"the National Register does not hold {insz}")
    return row


def _living(conn: Connection, insz: str, day: dt.date) -> Any:
    """The person, alive and born on ``day`` (a register records no event of the dead or the unborn)."""
    person = _person(conn, insz)
    if person.death_date is not None:
        raise WriteRefused(
            409, "PERSON_DECEASED", f"{insz} died on {person.death_date}", death_date=str(person.death_date)
        )
    if day.isoformat() < person.birth_date:
        raise WriteRefused(
            422, "BEFORE_BIRTH", f"{day} lies before the birth of {insz} ({person.birth_date})"
        )
    return person


def _not_before(start: dt.date, day: dt.date, what: str) -> None:
    if start >= day:
        raise WriteRefused(409, "NOT_AFTER_CURRENT", f"{what} holds from {start}: the event must be later")


def record_move(conn: Connection, *, insz: str, body: MoveIn) -> list[str]:
    """Record a move: the current main residence ends the day before ``body.date``, the new one starts then;
    queues ``address.changed`` in the caller's transaction."""
    _living(conn, insz, body.date)
    a = address_table.c
    current = conn.execute(select(a.id, a.start_date).where((a.insz == insz) & a.end_date.is_(None))).all()
    for row in current:
        _not_before(row.start_date, body.date, "the current address")
    if current:
        conn.execute(
            update(address_table).where(a.id.in_([r.id for r in current])).values(end_date=body.date - _DAY)
        )
    address = body.address.model_dump()
    conn.execute(insert(address_table).values(insz=insz, start_date=body.date, end_date=None, **address))
    return [_queue(conn, "address.changed", insz, body.date, address)]


def _open_members(conn: Connection, household_id: int) -> list[Row[Any]]:
    m = _MEMBER.c
    query = select(m.insz, m.relationship).where((m.household_id == household_id) & m.end_date.is_(None))
    return list(conn.execute(query.order_by(m.insz)))


def _households_changed(conn: Connection, first: str, households: Iterable[int], day: dt.date) -> list[str]:
    """``household.changed`` for every current member of ``households`` (``first`` first): the household
    they belong to now, its members and head — what a recipient (the rights engine) needs to follow them."""
    queued: list[tuple[str, dict[str, Any]]] = []
    for household_id in sorted(set(households)):
        members = _open_members(conn, household_id)
        if not members:
            continue  # nobody left: no one to tell about
        data = {
            "household_id": household_id,
            "members": [r.insz for r in members],
            "head": next((r.insz for r in members if r.relationship == "head"), None),
        }
        queued.extend((r.insz, data) for r in members)
    queued.sort(key=lambda q: q[0] != first)  # stable: the person the event is about first
    return [_queue(conn, "household.changed", insz, day, data) for insz, data in queued]


_HOUSEHOLDS_LOCK = 0x6B70_6E72_686F_7573  # "kpnrhous": one household change at a time


def _lock_households(conn: Connection) -> None:
    """Serialise household changes (until the transaction ends): a new household takes the highest id + 1,
    and two people joining one household must see each other. SQLite has one writer at a time already."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _HOUSEHOLDS_LOCK})


def record_household_change(conn: Connection, *, insz: str, body: HouseholdMoveIn) -> list[str]:
    """Record that the person leaves their household and joins another (or starts one of their own) on
    ``body.date``; queues ``household.changed`` for them and for every member of the households affected."""
    _living(conn, insz, body.date)
    _lock_households(conn)
    m = _MEMBER.c
    mine = conn.execute(select(m.household_id, m.start_date, m.end_date).where(m.insz == insz)).all()
    current = [r for r in mine if r.end_date is None]
    if body.household_id is None:
        highest = conn.execute(select(func.max(m.household_id))).scalar()
        household_id, relationship = (0 if highest is None else int(highest) + 1), "head"
    else:
        household_id, relationship = body.household_id, str(body.relationship)
        if any(r.household_id == household_id for r in mine):
            raise WriteRefused(
                409,
                "ALREADY_MEMBER",
                f"{insz} is or was a member of household {household_id} (one membership per household)",
            )
        joined = _open_members(conn, household_id)
        if not joined:
            raise WriteRefused(404, "HOUSEHOLD_NOT_FOUND", f"no one lives in household {household_id}")
        if relationship == "head" and any(r.relationship == "head" for r in joined):
            raise WriteRefused(409, "HOUSEHOLD_HAS_HEAD", f"household {household_id} has a head already")
    for row in current:
        _not_before(row.start_date, body.date, f"membership of household {row.household_id}")
    if current:
        conn.execute(
            update(_MEMBER).where((m.insz == insz) & m.end_date.is_(None)).values(end_date=body.date - _DAY)
        )
    conn.execute(
        insert(_MEMBER).values(
            household_id=household_id,
            insz=insz,
            relationship=relationship,
            start_date=body.date,
            end_date=None,
        )
    )
    left = {r.household_id for r in current}
    return _households_changed(conn, insz, {household_id, *left}, body.date)


def record_death(conn: Connection, *, insz: str, body: DeathIn) -> list[str]:
    """Record a death: ``person.death_date`` is set, the household membership ends that day (as for the
    deceased the register loads); queues ``person.died`` and ``household.changed`` for the members left.
    The same death again changes nothing (no change is queued twice)."""
    person = _person(conn, insz)
    if person.death_date == body.death_date:
        return []
    _living(conn, insz, body.death_date)
    _lock_households(conn)
    p, m = person_table.c, _MEMBER.c
    current = conn.execute(
        select(m.household_id, m.start_date).where((m.insz == insz) & m.end_date.is_(None))
    ).all()
    for row in current:
        if row.start_date > body.death_date:
            raise WriteRefused(
                409,
                "NOT_AFTER_CURRENT",
                f"membership of household {row.household_id} holds from {row.start_date}: after the death",
            )
    conn.execute(update(person_table).where(p.insz == insz).values(death_date=body.death_date))
    conn.execute(
        update(_MEMBER).where((m.insz == insz) & m.end_date.is_(None)).values(end_date=body.death_date)
    )
    died = _queue(conn, "person.died", insz, body.death_date, {"death_date": body.death_date.isoformat()})
    return [died, *_households_changed(conn, insz, {r.household_id for r in current}, body.death_date)]
