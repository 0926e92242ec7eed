"""The mutations service over HTTP (SQLite and PostgreSQL): a source publishes a batch, each change judged
on its own (refused ones with a clear error, logged); the fan-out follows the persons directory and the
subscriptions (a recipient not subscribed, or no longer integrating the person, gets nothing); a recipient
pulls its feed from its position and acknowledges; the delivery state, replay and the AsyncAPI document."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.mutations.api import create_mutations_app
from kruispunt.network.directory import bulk_load
from tests.conftest import log_entries
from tests.mutations.conftest import CM, KSZ, NR, OCMW_GENT, RVA, people, unemployment
from tests.trust.shared_ca import declared, institution, ksz_callers, signed_for

OPERATOR = signed_for("operator-1")
"""The KSZ's portal, for an operator: what the operators' views require."""


@dataclass
class Service:
    client: TestClient
    directory: Engine
    log_url: str

    def publish(self, changes: list[dict[str, Any]], source: str = RVA) -> Any:
        return self.client.post(
            "/mutations/changes", json={"changes": changes}, headers={"X-Kruispunt-Institution": source}
        )

    def feed(self, recipient: str, **params: Any) -> Any:
        return self.client.get(
            f"/mutations/feed/{recipient}", params=params, headers={"X-Kruispunt-Institution": recipient}
        )

    def know(self, insz: str, kbo: str, sector: int, capacity: int, end: dt.date | None = None) -> None:
        start = dt.date(2020, 1, 1)
        bulk_load(self.directory, [(insz, kbo, sector, 1, capacity, None, start, end, "PRIMARY")])

    def logged(self) -> list[Any]:
        return log_entries(self.log_url)


@pytest.fixture
def svc(fresh_db: Callable[[str], str]) -> Iterator[Service]:
    directory_url = fresh_db("hub")
    upgrade(directory_url, "hub")
    directory = make_engine(directory_url)
    log_url = fresh_db("mutations_log")
    app = create_mutations_app(
        url=fresh_db("mutations"),
        directory_url=directory_url,
        log_url=log_url,
        push=False,
        callers=declared(),
        operators=ksz_callers("the changes service's operator views"),
    )
    with TestClient(app) as client:
        yield Service(client, directory, log_url)
    directory.dispose()


def test_a_batch_is_fanned_out_and_each_change_answered(svc: Service) -> None:
    a, b, c = people(3)
    svc.know(a, OCMW_GENT, 17, 2)
    svc.know(a, CM, 11, 1)
    svc.know(b, CM, 11, 1)
    svc.know(c, OCMW_GENT, 17, 2, end=dt.date(2021, 1, 1))  # no longer integrates c
    svc.know(c, "0206731645", 12, 30)  # the RSZ knows c, but is not subscribed to unemployment
    answer = svc.publish([unemployment(0, a), unemployment(1, b), unemployment(2, c)])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["refused"]) == (3, 0)
    assert [r["recipients"] for r in body["results"]] == [3, 2, 1]  # the rights engine receives every one

    ocmw = svc.feed(OCMW_GENT).json()
    assert [d["change"]["change_id"] for d in ocmw["deliveries"]] == ["rva-0"]
    assert [d["change"]["change_id"] for d in svc.feed(CM).json()["deliveries"]] == ["rva-0", "rva-1"]
    assert [d["change"]["insz"] for d in svc.feed(KSZ).json()["deliveries"]] == [a, b, c]
    assert svc.feed("0206731645").json()["deliveries"] == []

    # published again (the source retried): the same seq, nothing delivered twice
    again = svc.publish([unemployment(0, a)]).json()
    assert again["results"][0]["duplicate"] is True
    assert again["results"][0]["seq"] == body["results"][0]["seq"]
    assert len(svc.feed(CM).json()["deliveries"]) == 2

    entries = svc.logged()
    assert [(e.outcome, e.message_type, e.person_insz) for e in entries] == [
        ("ACCEPTED", "status.opened", a),
        ("ACCEPTED", "status.opened", b),
        ("ACCEPTED", "status.opened", c),
    ]
    assert sorted(json.loads(entries[0].destinations)) == sorted([OCMW_GENT, CM, KSZ])


def test_bad_changes_are_refused_each_with_its_reason_and_logged(svc: Service) -> None:
    (a,) = people(1)
    good = unemployment(0, a)
    bad_insz = {**unemployment(1, a), "insz": "12345678901"}
    no_data = {k: v for k, v in unemployment(2, a).items() if k != "data"}
    other_source = {**unemployment(3, a), "source": NR}
    reused = {**unemployment(0, a), "effective": "2026-11-01"}
    answer = svc.publish([good, bad_insz, no_data, other_source, reused])
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert "seq" in results[0]
    assert results[1]["error"]["code"] == "INVALID_CHANGE"
    assert any(e["loc"][-1] == "insz" for e in results[1]["error"]["errors"])
    assert results[2]["error"]["code"] == "INVALID_CHANGE"
    assert results[3]["error"]["code"] == "SOURCE_MISMATCH"
    assert results[4]["error"]["code"] == "CHANGE_ID_REUSED"
    outcomes = [(e.outcome, e.reason_code) for e in svc.logged()]
    assert outcomes.count(("ACCEPTED", None)) == 1
    assert sorted(r for o, r in outcomes if o == "REFUSED") == sorted(
        ["INVALID_CHANGE", "INVALID_CHANGE", "SOURCE_MISMATCH", "CHANGE_ID_REUSED"]
    )
    assert len(svc.feed(KSZ).json()["deliveries"]) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {"X-Kruispunt-Institution": RVA}, 400, "MALFORMED_JSON"),
        (b'{"changes": []}', {"X-Kruispunt-Institution": RVA}, 422, "INVALID_BATCH"),
        (b'{"changes": [], "x": 1}', {"X-Kruispunt-Institution": RVA}, 422, "INVALID_BATCH"),
        (b"[1, 2]", {"X-Kruispunt-Institution": RVA}, 422, None),
        (b"{}", {}, 400, "NO_INSTITUTION"),
        (b"{}", {"X-Kruispunt-Institution": "0123456789"}, 400, "INVALID_INSTITUTION"),
    ],
)
def test_malformed_requests(
    svc: Service, body: bytes, headers: dict[str, str], status: int, code: str | None
) -> None:
    answer = svc.client.post("/mutations/changes", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code


def test_feed_position_ack_replay_and_state(svc: Service) -> None:
    inszs = people(5)
    for i in inszs:
        svc.know(i, CM, 11, 1)
    svc.publish([unemployment(n, i) for n, i in enumerate(inszs)])
    first = svc.feed(CM, limit=2).json()
    assert len(first["deliveries"]) == 2
    assert first["next"] == first["deliveries"][-1]["cursor"]
    # without acknowledging, the same page comes again
    assert svc.feed(CM, limit=2).json()["deliveries"] == first["deliveries"]
    ack = svc.client.post(
        f"/mutations/feed/{CM}/ack", json={"cursor": first["next"]}, headers={"X-Kruispunt-Institution": CM}
    )
    assert ack.json()["acked"] == first["next"]
    rest = svc.feed(CM).json()["deliveries"]
    assert [d["change"]["insz"] for d in rest] == inszs[2:]
    state = svc.client.get(f"/mutations/recipients/{CM}", auth=OPERATOR).json()
    assert (state["acked"], state["backlog"], state["mode"]) == (first["next"], 3, "pull")
    assert state["lagSeconds"] >= 0
    # another institution may not read or acknowledge this feed
    assert (
        svc.client.get(f"/mutations/feed/{CM}", headers={"X-Kruispunt-Institution": RVA}).status_code == 403
    )
    # replay from the start
    replay = svc.client.post(
        f"/mutations/recipients/{CM}/replay", json={"cursor": 0}, headers={"X-Kruispunt-Institution": CM}
    )
    assert replay.status_code == 200
    assert replay.json()["backlog"] == 5
    assert len(svc.feed(CM).json()["deliveries"]) == 5
    everyone = svc.client.get("/mutations/recipients", auth=OPERATOR).json()["recipients"]
    assert {r["recipient"] for r in everyone} == {CM, KSZ}
    assert svc.client.get("/mutations/recipients/0410337021", auth=OPERATOR).status_code == 404


def test_push_settings_are_checked(svc: Service) -> None:
    h = {"X-Kruispunt-Institution": CM}
    assert svc.client.put(f"/mutations/recipients/{CM}", json={"mode": "push"}, headers=h).status_code == 422
    bad = svc.client.put(
        f"/mutations/recipients/{CM}",
        json={"mode": "push", "callback_url": "ftp://x", "secret": "s" * 20},
        headers=h,
    )
    assert bad.status_code == 422
    ok = svc.client.put(
        f"/mutations/recipients/{CM}",
        json={"mode": "push", "callback_url": "http://127.0.0.1:9/changes", "secret": "s" * 20},
        headers=h,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["mode"] == "push"


def test_the_asyncapi_document_lists_the_channels_and_subscriptions(svc: Service) -> None:
    doc = svc.client.get("/mutations/asyncapi.json").json()
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == {"publish", "recipient"}
    assert "Delivered" in doc["components"]["schemas"]
    assert "StatusChange" in doc["components"]["schemas"]
    assert {s["id"] for s in doc["x-subscriptions"]} >= {"24/101", "24/102"}
    refs: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "$ref":
                    refs.append(v)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(doc)
    for ref in refs:
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    assert refs


def test_who_calls_is_proven_by_the_signature_not_the_header(svc: Service) -> None:
    rva = institution(RVA, "RVA")
    forged = svc.client.put(
        f"/mutations/recipients/{CM}",
        json={"mode": "push", "callback_url": "http://127.0.0.1:9/stolen", "secret": "s" * 20},
        headers={"X-Kruispunt-Institution": CM},
        auth=signed_for("x", rva),
    )
    assert (forged.status_code, forged.json()["error"]["code"]) == (403, "SENDER_MISMATCH")
    own = svc.client.get(
        f"/mutations/feed/{RVA}", headers={"X-Kruispunt-Institution": RVA}, auth=signed_for("x", rva)
    )
    assert own.status_code == 200, own.text
    for path in ("/mutations/recipients", f"/mutations/recipients/{CM}", "/mutations/dead-letters"):
        unsigned = svc.client.get(path)
        assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "UNSIGNED"), path
        by_rva = svc.client.get(path, auth=signed_for("x", rva))
        assert (by_rva.status_code, by_rva.json()["error"]["code"]) == (403, "CALLER_NOT_ALLOWED"), path
    person = svc.client.get(f"/mutations/persons/{people(1)[0]}/changes")
    assert person.status_code == 401


def test_with_signatures_required_a_header_alone_is_refused(fresh_db: Callable[[str], str]) -> None:
    directory_url = fresh_db("hub")
    upgrade(directory_url, "hub")
    app = create_mutations_app(
        url=fresh_db("mutations"),
        directory_url=directory_url,
        log_url=None,
        push=False,
        callers=declared("required"),
        operators=ksz_callers("the changes service's operator views"),
    )
    with TestClient(app) as client:
        header = {"X-Kruispunt-Institution": CM}
        unsigned = client.get(f"/mutations/feed/{CM}", headers=header)
        assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "UNSIGNED")
        published = client.post(
            "/mutations/changes", json=unemployment(0, people(1)[0]), headers={"X-Kruispunt-Institution": RVA}
        )
        assert (published.status_code, published.json()["error"]["code"]) == (401, "UNSIGNED")
        signed = client.get(
            f"/mutations/feed/{CM}", headers=header, auth=signed_for("x", institution(CM, "CM"))
        )
        assert signed.status_code == 200, signed.text
