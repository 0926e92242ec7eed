"""The National Register records events — a move, a household change, a death — and queues the changes they
make for the network in the same transaction: the register's rows and the outbox are kept together or not
at all; bad input is refused with a clear error and writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from kruispunt.core.db import make_engine
from kruispunt.sources import changes
from kruispunt.sources.common import WriteRefused
from kruispunt.sources.national_register import service
from kruispunt.sources.national_register.api import create_app
from kruispunt.sources.national_register.schemas import DeathIn, HouseholdMoveIn, MoveIn

from .events import (
    ADULT,
    CHILD,
    NEIGHBOUR,
    NEW_ADDRESS,
    PARTNER,
    SINCE,
    addresses,
    make_register,
    memberships,
    outbox,
    published,
)

NR = service.SOURCE
DAY = dt.date(2026, 11, 2)


@pytest.fixture
def register_url(fresh_db: Callable[[str], str]) -> str:
    return make_register(fresh_db)


@pytest.fixture
def register(register_url: str) -> Iterator[Engine]:
    engine = make_engine(register_url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(register_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(register_url)) as test_client:
        yield test_client


def _household(day: dt.date, household_id: int | None, relationship: str | None) -> HouseholdMoveIn:
    return HouseholdMoveIn.model_validate(
        {"date": day, "household_id": household_id, "relationship": relationship}
    )


def _record(engine: Engine, write: Callable[[Connection], list[str]]) -> list[str]:
    with engine.begin() as conn:
        return write(conn)


# ------------------------------------------------------------------------------------------------ moves


def test_a_move_ends_the_current_address_and_queues_address_changed(register: Engine) -> None:
    body = MoveIn.model_validate({"date": DAY, "address": NEW_ADDRESS})
    ids = _record(register, lambda conn: service.record_move(conn, insz=ADULT, body=body))
    assert addresses(register, ADULT) == [
        ("Kerkstraat", SINCE, DAY - dt.timedelta(days=1)),
        ("Veldstraat", DAY, None),
    ]
    [change] = published(register)
    assert ids == [change["change_id"]]
    assert change["source"] == NR
    assert (change["type"], change["insz"], change["effective"]) == (
        "address.changed",
        ADULT,
        DAY.isoformat(),
    )
    assert change["data"] == NEW_ADDRESS
    with register.connect() as conn:
        [period] = [p for p in service.address_history(conn, insz=ADULT) or [] if p.end is None]
    assert (period.street, period.start) == ("Veldstraat", DAY)


def test_a_move_before_the_current_address_writes_nothing(register: Engine) -> None:
    body = MoveIn.model_validate({"date": SINCE, "address": NEW_ADDRESS})
    with pytest.raises(WriteRefused) as refused:
        _record(register, lambda conn: service.record_move(conn, insz=ADULT, body=body))
    assert (refused.value.status, refused.value.code) == (409, "NOT_AFTER_CURRENT")
    assert addresses(register, ADULT) == [("Kerkstraat", SINCE, None)]
    assert outbox(register) == []


def test_a_failure_while_queuing_keeps_no_move(register: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> str:
        raise RuntimeError("the outbox is not writable")

    monkeypatch.setattr(changes, "queue_change", broken)
    body = MoveIn.model_validate({"date": DAY, "address": NEW_ADDRESS})
    with pytest.raises(RuntimeError):
        _record(register, lambda conn: service.record_move(conn, insz=ADULT, body=body))
    assert addresses(register, ADULT) == [("Kerkstraat", SINCE, None)]
    assert outbox(register) == []


# ------------------------------------------------------------------------------------------- households


def test_leaving_for_a_household_of_ones_own_tells_both_households(register: Engine) -> None:
    ids = _record(
        register,
        lambda conn: service.record_household_change(conn, insz=CHILD, body=_household(DAY, None, None)),
    )
    assert memberships(register, CHILD) == [
        (7, "child", SINCE, DAY - dt.timedelta(days=1)),
        (10, "head", DAY, None),
    ]
    sent = published(register)
    assert [c["change_id"] for c in sent] == ids
    assert [(c["type"], c["insz"]) for c in sent] == [
        ("household.changed", CHILD),
        ("household.changed", ADULT),
        ("household.changed", PARTNER),
    ]
    assert sent[0]["data"] == {"household_id": 10, "members": [CHILD], "head": CHILD}
    assert sent[1]["data"] == {"household_id": 7, "members": sorted([ADULT, PARTNER]), "head": ADULT}
    assert sent[1]["data"] == sent[2]["data"]
    assert {c["effective"] for c in sent} == {DAY.isoformat()}


def test_joining_a_household_tells_its_members_and_those_left(register: Engine) -> None:
    body = _household(DAY, 9, "partner")
    _record(register, lambda conn: service.record_household_change(conn, insz=PARTNER, body=body))
    sent = published(register)
    told = {c["insz"]: c["data"] for c in sent}
    assert sent[0]["insz"] == PARTNER
    assert len(sent) == 4
    assert (
        told[PARTNER]
        == told[NEIGHBOUR]
        == {
            "household_id": 9,
            "members": sorted([PARTNER, NEIGHBOUR]),
            "head": NEIGHBOUR,
        }
    )
    assert told[ADULT] == told[CHILD] == {"household_id": 7, "members": sorted([ADULT, CHILD]), "head": ADULT}
    with register.connect() as conn:
        family = service.family_composition(conn, insz=NEIGHBOUR)
    assert family is not None
    assert [(m.insz, m.relationship) for m in family.members] == [(NEIGHBOUR, "head"), (PARTNER, "partner")]


@pytest.mark.parametrize(
    ("household_id", "relationship", "status", "code"),
    [
        (7, "child", 409, "ALREADY_MEMBER"),
        (123, "other", 404, "HOUSEHOLD_NOT_FOUND"),
        (9, "head", 409, "HOUSEHOLD_HAS_HEAD"),
    ],
)
def test_a_household_change_that_cannot_be_is_refused_and_writes_nothing(
    register: Engine, household_id: int, relationship: str, status: int, code: str
) -> None:
    body = _household(DAY, household_id, relationship)
    with pytest.raises(WriteRefused) as refused:
        _record(register, lambda conn: service.record_household_change(conn, insz=CHILD, body=body))
    assert (refused.value.status, refused.value.code) == (status, code)
    assert memberships(register, CHILD) == [(7, "child", SINCE, None)]
    assert outbox(register) == []


# ------------------------------------------------------------------------------------------------ deaths


def test_a_death_sets_the_date_ends_the_membership_and_tells_the_household(register: Engine) -> None:
    body = DeathIn(death_date=DAY)
    _record(register, lambda conn: service.record_death(conn, insz=ADULT, body=body))
    with register.connect() as conn:
        person = service.identify_by_insz(conn, insz=ADULT)
        family = service.family_composition(conn, insz=ADULT)
    assert person is not None
    assert person.death_date == DAY
    assert memberships(register, ADULT) == [(7, "head", SINCE, DAY)]
    assert family is not None
    assert {m.insz for m in family.members} == {ADULT, PARTNER, CHILD}
    sent = published(register)
    assert [(c["type"], c["insz"]) for c in sent] == [
        ("person.died", ADULT),
        *(("household.changed", i) for i in sorted([PARTNER, CHILD])),
    ]
    assert sent[0]["data"] == {"death_date": DAY.isoformat()}
    assert sent[1]["data"] == {"household_id": 7, "members": sorted([PARTNER, CHILD]), "head": None}

    assert _record(register, lambda conn: service.record_death(conn, insz=ADULT, body=body)) == []  # again
    assert len(outbox(register)) == 3
    for refused_write in (
        lambda conn: service.record_death(
            conn, insz=ADULT, body=DeathIn(death_date=DAY - dt.timedelta(days=3))
        ),
        lambda conn: service.record_move(
            conn, insz=ADULT, body=MoveIn.model_validate({"date": DAY, "address": NEW_ADDRESS})
        ),
    ):
        with pytest.raises(WriteRefused) as refused:
            _record(register, refused_write)
        assert (refused.value.status, refused.value.code) == (409, "PERSON_DECEASED")


def test_a_failure_after_the_first_change_keeps_nothing(
    register: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The death and its person.died are written before the household's changes: a failure there undoes
    both."""

    def broken(*_: Any) -> list[str]:
        raise RuntimeError("crash while telling the household")

    monkeypatch.setattr(service, "_households_changed", broken)
    with pytest.raises(RuntimeError):
        _record(register, lambda conn: service.record_death(conn, insz=ADULT, body=DeathIn(death_date=DAY)))
    with register.connect() as conn:
        person = service.identify_by_insz(conn, insz=ADULT)
    assert person is not None
    assert person.death_date is None
    assert memberships(register, ADULT) == [(7, "head", SINCE, None)]
    assert outbox(register) == []


# ----------------------------------------------------------------------------------------------- routes


def test_the_routes_record_and_answer_the_change_ids(client: TestClient, register: Engine) -> None:
    reply = client.post(f"/persons/{ADULT}/moves", json={"date": DAY.isoformat(), "address": NEW_ADDRESS})
    assert reply.status_code == 201, reply.text
    [queued] = outbox(register)
    assert reply.json() == {"changes": [f"{NR}-{queued.id}"]}
    reply = client.post(
        f"/persons/{CHILD}/household",
        json={"date": DAY.isoformat(), "household_id": 9, "relationship": "child"},
    )
    assert reply.status_code == 201, reply.text
    assert len(reply.json()["changes"]) == 4
    reply = client.post(f"/persons/{NEIGHBOUR}/death", json={"death_date": DAY.isoformat()})
    assert reply.status_code == 201, reply.text
    assert [c["type"] for c in published(register)][-2:] == ["person.died", "household.changed"]


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("moves", {"date": "2026-11-02", "address": {**NEW_ADDRESS, "postal_code": "9"}}, "postal_code"),
        ("moves", {"date": "2026-11-02", "address": {**NEW_ADDRESS, "nis_code": 44}}, "nis_code"),
        ("moves", {"date": "2026-11-02", "address": NEW_ADDRESS, "why": "x"}, "why"),
        ("moves", {"date": "2999-01-01", "address": NEW_ADDRESS}, "date"),
        ("moves", {"address": NEW_ADDRESS}, "date"),
        ("household", {"date": "2026-11-02", "household_id": 9}, "body"),
        ("household", {"date": "2026-11-02", "relationship": "child"}, "body"),
        ("household", {"date": "2026-11-02", "household_id": -1, "relationship": "child"}, "household_id"),
        ("household", {"date": "2026-11-02", "household_id": 9, "relationship": "cousin"}, "relationship"),
        ("death", {"death_date": "yesterday"}, "death_date"),
    ],
)
def test_bad_input_is_422_and_writes_nothing(
    client: TestClient, register: Engine, path: str, body: dict[str, Any], where: str
) -> None:
    reply = client.post(f"/persons/{CHILD}/{path}", json=body)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert any(where in e["loc"] for e in error["details"]["errors"]), error
    assert outbox(register) == []
    assert memberships(register, CHILD) == [(7, "child", SINCE, None)]


def test_an_unknown_or_malformed_insz(client: TestClient, register: Engine) -> None:
    body = {"death_date": DAY.isoformat()}
    unknown = "85073003328"
    reply = client.post(f"/persons/{unknown}/death", json=body)
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "PERSON_NOT_FOUND"
    reply = client.post("/persons/12345678901/death", json=body)
    assert reply.status_code == 422
    assert reply.json()["error"]["details"]["errors"][0]["loc"] == ["path", "insz"]
    reply = client.post(f"/persons/{CHILD}/death", json={"death_date": "2010-01-01"})  # before birth
    assert (reply.status_code, reply.json()["error"]["code"]) == (422, "BEFORE_BIRTH")
    assert outbox(register) == []


def test_a_death_before_the_current_membership_writes_nothing(register: Engine) -> None:
    body = DeathIn(death_date=SINCE - dt.timedelta(days=10))
    with pytest.raises(WriteRefused) as refused:
        _record(register, lambda conn: service.record_death(conn, insz=ADULT, body=body))
    assert (refused.value.status, refused.value.code) == (409, "NOT_AFTER_CURRENT")
    with register.connect() as conn:
        person = service.identify_by_insz(conn, insz=ADULT)
    assert person is not None
    assert person.death_date is None
    assert outbox(register) == []
