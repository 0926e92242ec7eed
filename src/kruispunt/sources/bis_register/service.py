"""Bis register logic: issuing bis numbers and the bulk load, on top of the person logic shared with the
National Register (:class:`kruispunt.sources.persons.PersonRegister`: identification, search, proofs).

A bis number is ``YY MM+offset DD NNN CC``: offset 40 when the sex is known (counter odd = male, even =
female), 20 when it is not (any counter); unknown month/day are ``00``; check digits as for every INSZ
(with the "2" prefix for births from 2000). :func:`issue_bis_number` takes the next counter above the highest
one used for that prefix and inserts in a savepoint; when a concurrent issuer took the same number the primary
key refuses it and we try again. When a prefix runs out of counters, month and day become ``00`` and the
counter restarts there (the National Register's rule).

:func:`record_replacement` and :func:`record_cancellation` end a bis number and queue the change
(``insz.replaced``, ``insz.cancelled``) for the network in the caller's transaction: both or neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kruispunt.simulate import PopulationBatch
from kruispunt.sources import changes, persons
from kruispunt.sources.bis_register.models import address_table, change_outbox_table, meta_table, person_table
from kruispunt.sources.bis_register.schemas import AddressIn, CancelIn, ReplaceIn
from kruispunt.sources.common import WriteRefused, normalise_name, parse_incomplete_date, phonetic_key
from kruispunt.sources.persons import PersonRegister, PersonTables

TABLES = PersonTables(person=person_table, address=address_table, meta=meta_table)
REGISTER = PersonRegister(TABLES)
_MAX_ATTEMPTS = 50

# shared with the National Register: see PersonRegister for each
identify_by_insz = REGISTER.identify_by_insz
search = REGISTER.search
identify_person = REGISTER.identify_person
verify_proof = REGISTER.verify_proof
get_meta = REGISTER.get_meta
set_meta = REGISTER.set_meta
count_persons = REGISTER.count_persons
ensure_indexes = REGISTER.ensure_indexes
clear_population = REGISTER.clear_population
bulk_session = REGISTER.bulk_session


class BisNumbersExhausted(RuntimeError):
    """Every counter of the birth date and of its month-00 fallback is taken."""


class BisNumberContention(RuntimeError):
    """Concurrent issuers kept taking the numbers we tried; the caller may try again."""


def bis_number(year: int, month_encoded: int, day_encoded: int, counter: int) -> str:
    """The 11-digit number for these parts (check digits with the century rule)."""
    first9 = f"{year % 100:02d}{month_encoded:02d}{day_encoded:02d}{counter:03d}"
    value = int(first9) + (2_000_000_000 if year >= 2000 else 0)
    return f"{first9}{97 - value % 97:02d}"


def _next_counter(conn: Connection, prefix: str, sex: str | None) -> int | None:
    c = person_table.c
    query = select(func.max(c.counter)).where(c.number_prefix == prefix)
    if sex is not None:
        query = query.where(c.counter % 2 == (1 if sex == "M" else 0))
    highest = conn.execute(query).scalar()
    first, step, last = {"M": (1, 2, 997), "F": (2, 2, 998)}.get(sex or "", (1, 1, 998))
    counter = first if highest is None else int(highest) + step
    return counter if counter <= last else None


def issue_bis_number(
    conn: Connection,
    *,
    last_name: str,
    first_names: str,
    birth_date: str,
    sex: str | None,
    nationality: str | None,
    address: AddressIn,
    civil_state: int | None = None,
    issued_at: datetime | None = None,
) -> str:
    """Register a person and return their new bis number (month + 40 when ``sex`` is M/F, + 20 when None).

    ``birth_date`` may be incomplete (``YYYY-MM-00``, ``YYYY-00-00``). Safe under concurrent callers: the
    insert runs in a savepoint and is retried with the next counter when the number was taken meanwhile.
    """
    if sex not in ("M", "F", None):
        raise ValueError("sex must be 'M', 'F' or None")
    year, month, day = parse_incomplete_date(birth_date)
    if not 1900 <= year <= 2099:
        raise ValueError("an INSZ encodes birth years 1900-2099 only")
    offset = 40 if sex else 20
    issued_at = issued_at or datetime.now(UTC)
    valid_from = issued_at.date()  # the address is known from today
    for _attempt in range(_MAX_ATTEMPTS):
        parts = None
        for m, d in ((month, day), (0, 0)):
            prefix = f"{year % 100:02d}{m + offset:02d}{d:02d}"
            counter = _next_counter(conn, prefix, sex)
            if counter is not None:
                parts = (prefix, m + offset, d, counter)
                break
        if parts is None:
            raise BisNumbersExhausted(f"no free bis counter for birth date {birth_date}")
        prefix, month_encoded, day_encoded, counter = parts
        insz = bis_number(year, month_encoded, day_encoded, counter)
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(person_table).values(
                        insz=insz,
                        last_name=last_name,
                        first_names=first_names,
                        birth_date=birth_date,
                        birth_year=year,
                        sex=sex,
                        nationality=nationality,
                        civil_state=civil_state,
                        death_date=None,
                        last_name_key=phonetic_key(last_name),
                        last_name_norm=normalise_name(last_name),
                        sis_card_number=None,
                        identity_card_number=None,
                        number_prefix=prefix,
                        counter=counter,
                        issued_at=issued_at,
                    )
                )
                conn.execute(
                    insert(address_table).values(
                        insz=insz,
                        street=address.street,
                        house_number=address.house_number,
                        postal_code=address.postal_code,
                        municipality=address.municipality,
                        nis_code=address.nis_code,
                        country=address.country,
                        start_date=valid_from,
                        end_date=None,
                    )
                )
        except IntegrityError:
            continue
        return insz
    raise BisNumberContention("could not allocate a bis number (too much contention)")


# ------------------------------------------------------------------------------------------- loading

BIS_PERSON_COLUMNS = (*persons.PERSON_COLUMNS, "number_prefix", "counter")


def load_batch(conn: Connection, batch: PopulationBatch) -> int:
    """Insert the bis-number people of one simulated batch (national-register numbers are skipped)."""
    keep = batch.is_bis
    positions = np.flatnonzero(keep)
    rows = [(*row, row[0][:6], int(row[0][6:9])) for row in persons.person_rows(batch, positions)]
    persons.bulk_insert(conn, TABLES.person, BIS_PERSON_COLUMNS, rows)
    persons.bulk_insert(conn, TABLES.address, persons.ADDRESS_COLUMNS, persons.address_rows(batch, keep))
    return len(positions)


def load_population(engine: Engine, batches: Iterable[PopulationBatch]) -> int:
    """Bulk-load the bis people of simulated batches, one transaction per batch; returns how many."""
    return REGISTER.load_population(engine, batches, load_batch)


# ------------------------------------------------------------------------------------ recording events

SOURCE = "0244640631"
"""The KSZ's KBO, which keeps the bis register (``network/data/institutions.yaml``): the source of its
changes."""


def _queue(conn: Connection, change_type: str, insz: str, effective: date, data: dict[str, Any]) -> str:
    change = changes.person_change(
        source=SOURCE, change_type=change_type, insz=insz, effective=effective, data=data
    )
    return changes.queue_change(conn, change_outbox_table, change)


def _standing(conn: Connection, insz: str) -> Any:
    """The bis number's row, locked until the caller's transaction ends (one ending at a time); 404 when the
    register never gave it, 409 when it was cancelled."""
    c = person_table.c
    query = select(c.insz, c.replaced_by, c.replaced_on, c.cancelled_on).where(c.insz == insz)
    row = conn.execute(query.with_for_update()).first()
    if row is None:
        raise WriteRefused(404, "PERSON_NOT_FOUND", f"the bis register does not hold {insz}")
    if row.cancelled_on is not None:
        raise WriteRefused(409, "BIS_NUMBER_CANCELLED", f"{insz} was cancelled on {row.cancelled_on}")
    return row


def record_replacement(conn: Connection, *, insz: str, body: ReplaceIn) -> list[str]:
    """Record that the bis number is replaced by ``body.replaced_by``; queues ``insz.replaced`` in the
    caller's transaction. The same replacement again changes nothing."""
    if body.replaced_by == insz:
        raise WriteRefused(422, "REPLACED_BY_ITSELF", f"{insz} cannot be replaced by itself")
    row = _standing(conn, insz)
    if row.replaced_by == body.replaced_by:
        return []
    if row.replaced_by is not None:
        raise WriteRefused(
            409, "ALREADY_REPLACED", f"{insz} was replaced by {row.replaced_by} on {row.replaced_on}"
        )
    c = person_table.c
    conn.execute(
        update(person_table).where(c.insz == insz).values(replaced_by=body.replaced_by, replaced_on=body.date)
    )
    return [_queue(conn, "insz.replaced", insz, body.date, {"replaced_by": body.replaced_by})]


def record_cancellation(conn: Connection, *, insz: str, body: CancelIn) -> list[str]:
    """Record that the bis number was given in error; queues ``insz.cancelled``. A cancelled number is
    cancelled once (409 after), a replaced one cannot be cancelled (its person lives on under the other)."""
    row = _standing(conn, insz)
    if row.replaced_by is not None:
        raise WriteRefused(409, "ALREADY_REPLACED", f"{insz} was replaced by {row.replaced_by}")
    c = person_table.c
    conn.execute(update(person_table).where(c.insz == insz).values(cancelled_on=body.date))
    return [_queue(conn, "insz.cancelled", insz, body.date, {})]
