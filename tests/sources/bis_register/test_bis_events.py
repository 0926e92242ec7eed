"""The bis register ends bis numbers — replaced by another INSZ, or cancelled as given in error — and queues
``insz.replaced`` / ``insz.cancelled`` in the same transaction: both kept, or neither."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select

from kruispunt.core.db import make_engine
from kruispunt.ids import make_insz
from kruispunt.mutations.schemas import CHANGE_ADAPTER
from kruispunt.sources import changes
from kruispunt.sources.bis_register import service
from kruispunt.sources.bis_register.api import create_app
from kruispunt.sources.bis_register.models import change_outbox_table, person_table
from kruispunt.sources.bis_register.schemas import CancelIn, ReplaceIn
from kruispunt.sources.common import WriteRefused

from .test_bis_api import REQUEST

KSZ = service.SOURCE
RESIDENT = make_insz(dt.date(1988, 11, 23), 17)  # the national-register number the person got
DAY = dt.date(2026, 11, 2)


@pytest.fixture
def client(bis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(bis_url)) as test_client:
        yield test_client


@pytest.fixture
def engine(bis_url: str) -> Iterator[Engine]:
    eng = make_engine(bis_url)
    yield eng
    eng.dispose()


@pytest.fixture
def number(client: TestClient) -> str:
    """A bis number just given."""
    reply = client.post("/persons", json=REQUEST)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["insz"])


def _outbox(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(change_outbox_table).order_by(change_outbox_table.c.id)).all()
    out = []
    for row in rows:
        change = {**row.change, "change_id": f"{row.source}-{row.id}"}
        CHANGE_ADAPTER.validate_python(change)  # what the mutations service accepts
        out.append(change)
    return out


def _ended(engine: Engine, insz: str) -> tuple[str | None, dt.date | None, dt.date | None]:
    c = person_table.c
    with engine.connect() as conn:
        row = conn.execute(select(c.replaced_by, c.replaced_on, c.cancelled_on).where(c.insz == insz)).one()
    return row.replaced_by, row.replaced_on, row.cancelled_on


def test_a_replacement_is_recorded_and_queued_once(engine: Engine, number: str) -> None:
    body = ReplaceIn(replaced_by=RESIDENT, date=DAY)
    with engine.begin() as conn:
        ids = service.record_replacement(conn, insz=number, body=body)
    assert _ended(engine, number) == (RESIDENT, DAY, None)
    [change] = _outbox(engine)
    assert ids == [change["change_id"]]
    assert (change["source"], change["type"], change["insz"]) == (KSZ, "insz.replaced", number)
    assert (change["effective"], change["data"]) == (DAY.isoformat(), {"replaced_by": RESIDENT})
    with engine.begin() as conn:
        assert service.record_replacement(conn, insz=number, body=body) == []  # the same again
    other = ReplaceIn(replaced_by=make_insz(dt.date(1988, 11, 23), 19), date=DAY)
    refusals: list[tuple[Callable[[Connection], list[str]], str]] = [
        (lambda conn: service.record_replacement(conn, insz=number, body=other), "ALREADY_REPLACED"),
        (
            lambda conn: service.record_cancellation(conn, insz=number, body=CancelIn(date=DAY)),
            "ALREADY_REPLACED",
        ),
    ]
    for write, code in refusals:
        with pytest.raises(WriteRefused) as refused, engine.begin() as conn:
            write(conn)
        assert (refused.value.status, refused.value.code) == (409, code)
    assert len(_outbox(engine)) == 1


def test_a_cancellation_is_recorded_and_queued(engine: Engine, number: str) -> None:
    with engine.begin() as conn:
        service.record_cancellation(conn, insz=number, body=CancelIn(date=DAY))
    assert _ended(engine, number) == (None, None, DAY)
    [change] = _outbox(engine)
    assert (change["type"], change["insz"], change["data"]) == ("insz.cancelled", number, {})
    with pytest.raises(WriteRefused) as refused, engine.begin() as conn:
        service.record_replacement(conn, insz=number, body=ReplaceIn(replaced_by=RESIDENT, date=DAY))
    assert (refused.value.status, refused.value.code) == (409, "BIS_NUMBER_CANCELLED")


def test_a_failure_while_queuing_keeps_no_replacement(
    engine: Engine, number: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> str:
        raise RuntimeError("the outbox is not writable")

    monkeypatch.setattr(changes, "queue_change", broken)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        service.record_replacement(conn, insz=number, body=ReplaceIn(replaced_by=RESIDENT, date=DAY))
    assert _ended(engine, number) == (None, None, None)
    assert _outbox(engine) == []


def test_the_routes(client: TestClient, engine: Engine, number: str) -> None:
    reply = client.post(f"/persons/{number}/replace", json={"replaced_by": RESIDENT, "date": DAY.isoformat()})
    assert reply.status_code == 201, reply.text
    [change] = _outbox(engine)
    assert reply.json() == {"changes": [change["change_id"]]}
    bad: list[tuple[str, dict[str, Any], int, str]] = [
        ("replace", {"replaced_by": "12345678901", "date": "2026-11-02"}, 422, "INVALID_REQUEST"),
        ("replace", {"replaced_by": RESIDENT, "date": "2999-01-01"}, 422, "INVALID_REQUEST"),
        ("replace", {"replaced_by": RESIDENT}, 422, "INVALID_REQUEST"),
        ("cancel", {"date": "2026-11-02", "reason": "x"}, 422, "INVALID_REQUEST"),
    ]
    for path, body, status, code in bad:
        reply = client.post(f"/persons/{number}/{path}", json=body)
        assert (reply.status_code, reply.json()["error"]["code"]) == (status, code), (path, body, reply.text)
    unknown = make_insz(dt.date(1990, 1, 1), 5, bis="sex_known")
    reply = client.post(f"/persons/{unknown}/cancel", json={"date": "2026-11-02"})
    assert (reply.status_code, reply.json()["error"]["code"]) == (404, "PERSON_NOT_FOUND")
    reply = client.post(f"/persons/{RESIDENT}/replace", json={"replaced_by": RESIDENT, "date": "2026-11-02"})
    assert (reply.status_code, reply.json()["error"]["code"]) == (422, "REPLACED_BY_ITSELF")
    reply = client.post("/persons/123/cancel", json={"date": "2026-11-02"})
    assert reply.status_code == 422
    assert len(_outbox(engine)) == 1
