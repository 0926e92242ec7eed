"""A hand-made National Register for the event tests: a family of three (household 7) and a neighbour living
alone (household 9), each at an address since 2020."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import make_insz
from kruispunt.mutations.schemas import CHANGE_ADAPTER
from kruispunt.sources.national_register.models import address_table, change_outbox_table, member_table

from ..helpers import add_nr_person

ADULT = make_insz(dt.date(1985, 3, 14), 17)
PARTNER = make_insz(dt.date(1987, 6, 2), 22)
CHILD = make_insz(dt.date(2015, 9, 30), 3)
NEIGHBOUR = make_insz(dt.date(1960, 1, 20), 41)
SINCE = dt.date(2020, 1, 1)
NEW_ADDRESS = {
    "street": "Veldstraat",
    "house_number": "12",
    "postal_code": "9000",
    "municipality": "Gent",
    "nis_code": 44021,
    "country": "BE",
}


def make_register(fresh_db: Callable[[str], str]) -> str:
    """The URL of a migrated National Register holding the family and the neighbour."""
    url = fresh_db("national_register")
    upgrade(url, "national_register")
    engine = make_engine(url)
    with engine.begin() as conn:
        for number, name, born in (
            (ADULT, "Peeters", "1985-03-14"),
            (PARTNER, "Peeters", "1987-06-02"),
            (CHILD, "Peeters", "2015-09-30"),
            (NEIGHBOUR, "Janssens", "1960-01-20"),
        ):
            add_nr_person(conn, number, name, born)
        home = {"street": "Kerkstraat", "postal_code": "2000", "municipality": "Antwerpen", "nis_code": 11002}
        conn.execute(
            insert(address_table),
            [
                {**home, "insz": i, "house_number": n, "country": "BE", "start_date": SINCE, "end_date": None}
                for i, n in ((ADULT, "1"), (PARTNER, "1"), (CHILD, "1"), (NEIGHBOUR, "3"))
            ],
        )
        conn.execute(
            insert(member_table),
            [
                {"household_id": h, "insz": i, "relationship": r, "start_date": SINCE, "end_date": None}
                for h, i, r in (
                    (7, ADULT, "head"),
                    (7, PARTNER, "spouse"),
                    (7, CHILD, "child"),
                    (9, NEIGHBOUR, "head"),
                )
            ],
        )
    engine.dispose()
    return url


def outbox(engine: Engine) -> list[Any]:
    """Every queued change, in order."""
    with engine.connect() as conn:
        return list(conn.execute(select(change_outbox_table).order_by(change_outbox_table.c.id)))


def published(engine: Engine) -> list[dict[str, Any]]:
    """The queued changes as the network will receive them, each checked against the network's schema."""
    out = []
    for row in outbox(engine):
        change = {**row.change, "change_id": f"{row.source}-{row.id}"}
        CHANGE_ADAPTER.validate_python(change)  # what the mutations service accepts
        out.append(change)
    return out


def memberships(engine: Engine, insz: str) -> list[tuple[int, str, dt.date, dt.date | None]]:
    m = member_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.household_id, m.relationship, m.start_date, m.end_date)
            .where(m.insz == insz)
            .order_by(m.start_date)
        )
        return [(r.household_id, r.relationship, r.start_date, r.end_date) for r in rows]


def addresses(engine: Engine, insz: str) -> list[tuple[str, dt.date, dt.date | None]]:
    a = address_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.street, a.start_date, a.end_date).where(a.insz == insz).order_by(a.start_date)
        )
        return [(r.street, r.start_date, r.end_date) for r in rows]
