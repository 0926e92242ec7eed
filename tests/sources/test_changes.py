"""One outbox and one publisher for every source (:mod:`kruispunt.sources.changes`), against a running
mutations service: the registers' changes go out in order, each once, a refused one is kept with its reason,
and a household change recorded by the National Register reaches the derived-rights engine and is applied."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import make_insz
from kruispunt.rights import service as rights
from kruispunt.rights.api import ChangeFeed
from kruispunt.rights.definitions import load_definitions
from kruispunt.rights.models import household_member_table, person_table
from kruispunt.sources import changes
from kruispunt.sources.bis_register.api import create_app as create_bis
from kruispunt.sources.national_register import service as nr
from kruispunt.sources.national_register.api import create_app as create_nr
from kruispunt.sources.national_register.models import change_outbox_table
from kruispunt.sources.national_register.schemas import HouseholdMoveIn, MoveIn
from kruispunt.sources.social import changes as social_changes

from .bis_register.test_bis_api import REQUEST
from .conftest import RunningMutations
from .national_register.events import ADULT, CHILD, NEW_ADDRESS, PARTNER, SINCE, make_register

KSZ = "0244640631"  # the derived-rights engine (and the keeper of the bis register)
RVA = "0206737484"
DAY = dt.date(2026, 11, 2)


def _types(deliveries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["change"]["type"], d["change"]["insz"]) for d in deliveries]


def test_the_publisher_sends_in_order_once_and_keeps_refusals(
    fresh_db: Callable[[str], str], mutations: RunningMutations
) -> None:
    engine = make_engine(make_register(fresh_db))
    mutations.know(ADULT, RVA, 18, 1)
    with engine.begin() as conn:
        nr.record_move(conn, insz=ADULT, body=MoveIn.model_validate({"date": DAY, "address": NEW_ADDRESS}))
        broken = changes.person_change(
            source=nr.SOURCE, change_type="person.died", insz=ADULT, effective=DAY, data={}
        )
        changes.queue_change(conn, change_outbox_table, broken)  # no death_date: the network refuses it
        nr.record_household_change(
            conn, insz=CHILD, body=HouseholdMoveIn.model_validate({"date": DAY, "household_id": None})
        )
    publisher = changes.ChangePublisher([engine], mutations.url, table=change_outbox_table)
    try:
        assert publisher.publish_once(engine) == 5
        assert publisher.publish_once(engine) == 0
        with engine.connect() as conn:
            assert changes.counts(conn, change_outbox_table) == {"done": 4, "refused": 1}
            [error] = conn.execute(
                select(change_outbox_table.c.last_error).where(change_outbox_table.c.state == "refused")
            ).scalars()
        assert str(error).startswith("INVALID_CHANGE:")
        assert _types(mutations.feed(RVA)) == [("address.changed", ADULT), ("household.changed", ADULT)]
        ksz = mutations.feed(KSZ)  # households, not addresses (24/103), the moved person first
        assert _types(ksz) == [("household.changed", i) for i in (CHILD, *sorted([ADULT, PARTNER]))]

        with engine.begin() as conn:  # sent again (an answer lost): the same change ids, nothing new
            conn.execute(update(change_outbox_table).values(state="pending"))
        assert publisher.publish_once(engine) == 5
        assert len(mutations.feed(KSZ)) == 3
        assert len(mutations.feed(RVA)) == 2
    finally:
        publisher.stop()
        engine.dispose()


def test_a_household_change_of_the_register_reaches_the_rights_engine(
    fresh_db: Callable[[str], str], mutations: RunningMutations
) -> None:
    rights_url = fresh_db("rights")
    upgrade(rights_url, "rights")
    rights_engine = make_engine(rights_url)
    with rights_engine.begin() as conn:  # the engine starts from the register's households
        rights.load_households(
            conn,
            [
                {"household_id": 7, "insz": ADULT, "head": True, "since": SINCE},
                {"household_id": 7, "insz": PARTNER, "since": SINCE},
                {"household_id": 7, "insz": CHILD, "since": SINCE},
            ],
        )
    feed = ChangeFeed(rights_engine, mutations.url, definitions=load_definitions())
    with TestClient(create_nr(make_register(fresh_db), mutations_url=mutations.url)) as client:
        reply = client.post(f"/persons/{CHILD}/household", json={"date": DAY.isoformat()})
        assert reply.status_code == 201, reply.text
        reply = client.post(f"/persons/{ADULT}/death", json={"death_date": DAY.isoformat()})
        assert reply.status_code == 201, reply.text
        assert len(mutations.wait_for_feed(KSZ, 5)) == 5  # 3 household changes, a death, one more household
    try:
        assert feed.poll() == 5
        h = household_member_table.c
        with rights_engine.connect() as conn:
            lines = conn.execute(
                select(h.household_id, h.insz, h.since, h.until).order_by(h.insz, h.since)
            ).all()
            died = conn.execute(
                select(person_table.c.death_date).where(person_table.c.insz == ADULT)
            ).scalar()
        assert (7, CHILD, SINCE, DAY - dt.timedelta(days=1)) in lines
        assert (10, CHILD, DAY, None) in lines  # the register's new household: the highest id + 1
        assert (7, PARTNER, SINCE, None) in lines
        assert died == DAY
    finally:
        feed.stop()
        rights_engine.dispose()


def test_the_bis_register_publishes_a_replaced_number(bis_url: str, mutations: RunningMutations) -> None:
    resident = make_insz(dt.date(1988, 11, 23), 17)
    with TestClient(create_bis(bis_url, mutations_url=mutations.url)) as client:
        number = client.post("/persons", json=REQUEST).json()["insz"]
        mutations.know(number, RVA, 18, 1)
        reply = client.post(
            f"/persons/{number}/replace", json={"replaced_by": resident, "date": DAY.isoformat()}
        )
        assert reply.status_code == 201, reply.text
        [delivered] = mutations.wait_for_feed(RVA, 1)
    assert delivered["change"]["type"] == "insz.replaced"
    assert delivered["change"]["data"] == {"replaced_by": resident}
    assert delivered["deliberation"] == "24/101"


def test_a_social_source_publishes_through_the_same_outbox(
    fresh_db: Callable[[str], str], mutations: RunningMutations
) -> None:
    url = fresh_db("social")
    upgrade(url, "social")
    engine = make_engine(url)
    with engine.begin() as conn:
        social_changes.queue_status_change(
            conn,
            change_type="status.opened",
            holder=RVA,
            insz=ADULT,
            kind="unemployment",
            file_key="u1",
            start=DAY,
            end=None,
            attrs={},
            effective=DAY,
        )
    publisher = social_changes.publisher([engine], mutations.url)
    try:
        assert publisher.publish_once(engine) == 1
        with engine.connect() as conn:
            assert social_changes.counts(conn) == {"done": 1}
            assert social_changes.pending(conn, limit=10) == []
        assert _types(mutations.feed(KSZ)) == [("status.opened", ADULT)]
    finally:
        publisher.stop()
        engine.dispose()
