"""A secondary network over real HTTP: NIC (managing institution) in front of the mutualities' host.

Both run under uvicorn on free 127.0.0.1 ports (threads of the test process), each mutuality with its own
database. NIC forwards a consultation to the members that know the person, merges their replies, leaves out a
member that fails or times out, and answers 502 when none answers. A member opening a file tells NIC.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from kruispunt.attest import KeySet, verify
from kruispunt.core.db import component_url
from kruispunt.sources.common import ConsultReply, ConsultRequest
from kruispunt.sources.social.api import create_managing_app
from kruispunt.sources.social.clients import HubDirectory, ManagingDirectory
from kruispunt.sources.social.definitions import definition
from kruispunt.sources.social.seed import seed_social
from kruispunt.sources.social.service import SocialSource, Target

from .conftest import FakeHub
from .data import CM, HZIV, LIBERALE, NOBODY, P1, P2, P4, P5, ROWS, SOLIDARIS, TODAY, WANTED
from .helpers import envelope, members_app

SLOW = LIBERALE
NIC_WAITS_S = 1.5
RELEASE = threading.Event()


class SlowSource(SocialSource):
    """A member that answers later than NIC waits (until the test releases it)."""

    def answer(
        self, target: Target, envelope: ConsultRequest[Any], *, holder: str | None = None
    ) -> ConsultReply[dict[str, Any]]:
        RELEASE.wait(4 * NIC_WAITS_S)
        return super().answer(target, envelope, holder=holder)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def network(tmp_path: Path, fake_hub: FakeHub) -> Iterator[dict[str, Any]]:
    """NIC and the mutualities' host, on SQLite, loaded with the hand-made files."""
    members = definition("mutualities")
    urls = {kbo: component_url(None, tmp_path, members.component(kbo)) for kbo in members.institutions}
    nic_url = component_url(None, tmp_path, "nic")
    keys_dir = tmp_path / "keys"
    seed_social(
        urls={**{("mutualities", k): u for k, u in urls.items()}, ("nic", None): nic_url},
        batches=[ROWS],
        wanted=WANTED,
    )
    sources = {
        kbo: (SlowSource if kbo == SLOW else SocialSource).of(
            members, keys_dir=keys_dir, institutions=[kbo], today=lambda: TODAY
        )
        for kbo in members.institutions
    }
    managing = ManagingDirectory("http://placeholder", timeout_s=5)
    host = members_app(
        "mutualities",
        urls,
        keys_dir,
        sources=sources,
        hub=HubDirectory("http://hub.test", timeout_s=2, transport=fake_hub.transport()),
        managing=managing,
    )
    RELEASE.clear()
    with serving(host) as members_url:
        nic = create_managing_app(
            definition("nic"), url=nic_url, members_url=members_url, keys_dir=keys_dir, timeout_s=NIC_WAITS_S
        )
        with serving(nic) as nic_base:
            managing.base_url = nic_base  # the members learn NIC's URL once it listens
            try:
                yield {"nic": nic_base, "members": members_url, "keys": keys_dir, "nic_app": nic}
            finally:
                RELEASE.set()


def _consult(base: str, message_type: str, **kw: Any) -> httpx.Response:
    return httpx.post(f"{base}/consult/{message_type}", json=envelope(message_type, **kw), timeout=10)


def test_routed_to_the_member_that_knows_the_person(network: dict[str, Any]) -> None:
    nic = network["nic"]
    mt = "health_insurance_assurability"
    one = _consult(nic, mt)
    assert one.status_code == 200, one.text
    assert [r["institution"] for r in one.json()["data"]["affiliations"]] == [CM]
    assert "x-kruispunt-partial" not in one.headers

    statuses = _consult(nic, "social_statuses", person=P2).json()["data"]["health_insurance"]
    assert {(r["kind"], r["institution"]) for r in statuses} == {
        ("health_insurance", SOLIDARIS),
        ("work_incapacity", SOLIDARIS),
    }
    assert _consult(nic, mt, person=NOBODY).json() == {"status": "NO_DATA_FOUND", "data": None}
    assert _consult(nic, "pension_status").status_code == 404
    assert _consult(nic, mt, version="9").status_code == 404
    assert _consult(nic, mt, request={"period": {}}).status_code == 422

    # the member's own attestation, signed by the member, verifiable with the keys NIC publishes
    issued = _consult(nic, "attestation_increased_reimbursement")
    [attestation] = issued.json()["data"]["attestations"]
    assert attestation["issuer"] == CM
    keys = KeySet.from_jwks(httpx.get(f"{nic}/.well-known/jwks.json", timeout=5).json())
    assert {f"{CM}:1", f"{HZIV}:1"} <= set(keys)
    assert verify(attestation["token"], keys, on=TODAY).in_force
    listed = _consult(nic, "list_of_attestations").json()["data"]["attestations"]
    assert [a["id"] for a in listed] == [attestation["id"]]

    # a batch through NIC: each item forwarded on its own
    items = [envelope(mt, person=P1), envelope(mt, person=NOBODY), envelope(mt, request={"x": 1})]
    batch = httpx.post(f"{nic}/consult-batch/{mt}", json={"items": items}, timeout=10).json()["items"]
    assert batch[0]["data"]["affiliations"][0]["institution"] == CM
    assert batch[1]["status"] == "NO_DATA_FOUND"
    assert batch[2]["error"]["status"] == 422
    direct = httpx.post(
        f"{network['members']}/members/{CM}/consult-batch/{mt}", json={"items": items[:2]}, timeout=10
    ).json()["items"]
    assert direct[0] == batch[0]
    assert direct[1]["status"] == "NO_DATA_FOUND"


def test_a_slow_member_is_left_out_and_none_answering_is_502(network: dict[str, Any]) -> None:
    nic = network["nic"]
    mt = "health_insurance_assurability"
    # P4 moved from CM to the (slow) Liberale: NIC answers with CM's file and says who is missing
    partial = _consult(nic, mt, person=P4)
    assert partial.status_code == 200, partial.text
    assert [r["institution"] for r in partial.json()["data"]["affiliations"]] == [CM]
    assert partial.headers["x-kruispunt-partial"] == SLOW

    # P5 is known to the slow member only
    none = _consult(nic, mt, person=P5)
    assert none.status_code == 502
    error = none.json()["error"]
    assert error["code"] == "MEMBERS_UNAVAILABLE"
    assert error["details"]["members"] == {SLOW: "no answer in time"}


def test_members_host_down_is_502(tmp_path: Path) -> None:
    nic_url = component_url(None, tmp_path, "nic")
    seed_social(urls={("nic", None): nic_url}, batches=[ROWS], wanted=WANTED)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    nic = create_managing_app(definition("nic"), url=nic_url, members_url=dead, keys_dir=None, timeout_s=1)
    with serving(nic) as base:
        answer = _consult(base, "health_insurance_assurability")
        assert answer.status_code == 502
        assert answer.json()["error"]["details"]["members"][CM].startswith("unreachable")


def test_a_member_opening_a_file_tells_nic(network: dict[str, Any], fake_hub: FakeHub) -> None:
    nic, members = network["nic"], network["members"]
    mt = "work_incapacity_status"
    assert _consult(nic, mt, person=NOBODY).json()["status"] == "NO_DATA_FOUND"
    body = {
        "insz": NOBODY,
        "kind": "work_incapacity",
        "start": "2025-04-01",
        "attrs": {"type": "primary_incapacity", "degree_percent": 100},
        "proof": {"sis_card_number": "1234567890"},
    }
    wrong = httpx.post(f"{members}/members/{HZIV}/files", json={**body, "member": CM}, timeout=10)
    assert wrong.status_code == 422
    opened = httpx.post(f"{members}/members/{HZIV}/files", json=body, timeout=10)
    assert opened.status_code == 201, opened.text
    assert fake_hub.calls[-1][1]["institution"] == HZIV
    assert fake_hub.calls[-1][1]["capacity"] == 2
    found = _consult(nic, mt, person=NOBODY).json()
    assert [(r["institution"], r["degree_percent"]) for r in found["data"]["work_incapacity"]] == [
        (HZIV, 100)
    ]

    # the hub refuses the next one: the file is not kept and NIC's span is put back
    fake_hub.status = 403
    refused = httpx.post(f"{members}/members/{SOLIDARIS}/files", json=body, timeout=10)
    assert refused.status_code == 403
    assert _consult(nic, mt, person=NOBODY).json()["data"]["work_incapacity"][0]["institution"] == HZIV
    fake_hub.status = 200

    # closing the file: NIC keeps the span, now closed; the hub is told to end the integration
    file_id = opened.json()["file"]["id"]
    closed = httpx.post(
        f"{members}/members/{HZIV}/files/{file_id}/close",
        json={"end": "2025-04-30", "proof": body["proof"]},
        timeout=10,
    )
    assert closed.status_code == 200, closed.text
    assert fake_hub.calls[-1][0] == "/directory/unregister"
    again = _consult(nic, mt, person=NOBODY).json()["data"]["work_incapacity"]
    assert again[0]["end"] == "2025-04-30"
    assert (
        httpx.post(f"{members}/members/0123456749/consult/{mt}", json=envelope(mt), timeout=5).status_code
        == 404
    )


def test_a_zima001_reaches_the_mutuality_of_the_worker(network: dict[str, Any], fake_hub: FakeHub) -> None:
    from .helpers import PROOF, drs_request

    nic, members = network["nic"], network["members"]
    request = drs_request("ZIMA001", P1, "501")
    answer = _consult(nic, "drs_zima001", request=request, provider="0410337021")
    assert answer.status_code == 200, answer.text
    received = {"kind": "drs_incapacity", "key": "501", "capacity": 2, "start": "2025-05-16"}
    assert answer.json() == {"status": "DATA_FOUND", "data": {"received": received}}
    path, registered = fake_hub.calls[-1]
    assert (path, registered["institution"], registered["capacity"]) == ("/directory/register", CM, 2)
    calls = len(fake_hub.calls)
    assert _consult(nic, "drs_zima001", request=request).json() == answer.json()
    assert len(fake_hub.calls) == calls  # delivered twice, kept once
    listed = _consult(nic, "social_risk_declarations", request={}).json()
    assert [(d["institution"], d["declaration_id"]) for d in listed["data"]["declarations"]] == [(CM, "501")]
    # a person no mutuality knows: NIC finds no member, nothing is stored
    assert _consult(
        nic, "drs_zima001", request=drs_request("ZIMA001", NOBODY, "502"), person=NOBODY
    ).json() == {
        "status": "NO_DATA_FOUND",
        "data": None,
    }

    # a file addressed by a key at a member: opened, then cancelled, NIC's span following
    body = {
        "insz": NOBODY,
        "start": "2025-04-01",
        "attrs": {"type": "primary_incapacity", "degree_percent": 100},
        "proof": PROOF,
    }
    put = httpx.put(f"{members}/members/{HZIV}/files/work_incapacity/w-1", json=body, timeout=10)
    assert put.status_code == 201, put.text
    assert _consult(nic, "work_incapacity_status", person=NOBODY).json()["status"] == "DATA_FOUND"
    cancel = httpx.post(
        f"{members}/members/{HZIV}/files/work_incapacity/w-1/cancel", json={"proof": PROOF}, timeout=10
    )
    assert cancel.status_code == 200, cancel.text
    assert fake_hub.calls[-1][0] == "/directory/unregister"
    assert _consult(nic, "work_incapacity_status", person=NOBODY).json()["status"] == "NO_DATA_FOUND"


def test_a_quarter_of_year_zero_is_422_at_the_member_and_at_nic(network: dict[str, Any]) -> None:
    """Found by the OpenAPI fuzzing: ``0000Q1`` fits the pattern but has no dates; the member answered 500
    and NIC, relaying it, 502."""
    body = {"quarter": "0000Q1"}
    member = httpx.post(f"{network['members']}/members/{CM}/warehouse/extract/files", json=body, timeout=10)
    nic = httpx.post(f"{network['nic']}/warehouse/extract/files", json=body, timeout=10)
    for answer in (member, nic):
        assert answer.status_code == 422, answer.text
        assert "year 0" in answer.json()["error"]["message"]
