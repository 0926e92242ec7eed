"""Signed calls between services: a request signed by an allowed institution reaches the route (with the
person it names); unsigned, altered, replayed, revoked, foreign or not-allowed callers get a JSON refusal
with their status, and the route does not run.

No `from __future__ import annotations` here: FastAPI must resolve the route's dependency annotation,
which names a local value."""

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from kruispunt.core.web import create_service_app
from kruispunt.network import KSZ
from kruispunt.trust.ca import NetworkCA, TrustError
from kruispunt.trust.envelopes import SIGNATURE_HEADER, VerifiedEnvelope, sign
from kruispunt.trust.receiver import EnvelopeAuth, own_identity, signed_callers

OCMW_GENT = "0212140186"


@pytest.fixture
def ca(tmp_path: Path) -> NetworkCA:
    ca = NetworkCA.create(tmp_path / "trust")
    for kbo, name in ((KSZ, "KSZ"), (OCMW_GENT, "OCMW Gent")):
        ca.save(ca.issue(kbo, name))
    return ca


@pytest.fixture
def app(ca: NetworkCA) -> FastAPI:
    callers = signed_callers(ca.folder, {KSZ}, service="the test service")
    app = create_service_app(title="test", description="signed callers", max_body_bytes=1_000_000)
    calls: list[dict[str, object]] = []
    app.state.calls = calls

    @app.post("/things")
    def things(
        body: dict[str, int], caller: Annotated[VerifiedEnvelope, Depends(callers)]
    ) -> dict[str, object]:
        calls.append(body)
        return {"caller": caller.kbo, "subject": caller.subject, "n": body["n"]}

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _ksz(ca: NetworkCA) -> EnvelopeAuth:
    identity = own_identity(ca.folder, KSZ)
    assert identity is not None
    return EnvelopeAuth(identity, subject="reviewer-7")


def test_a_signed_call_of_an_allowed_institution_runs_with_the_person_it_names(
    client: TestClient, ca: NetworkCA, app: FastAPI
) -> None:
    answer = client.post("/things", json={"n": 3}, auth=_ksz(ca))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"caller": KSZ, "subject": "reviewer-7", "n": 3}
    assert app.state.calls == [{"n": 3}]


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        ("unsigned", 401, "UNSIGNED"),
        ("altered", 401, "BAD_SIGNATURE"),
        ("other_route", 401, "BAD_SIGNATURE"),
        ("garbage", 401, "BAD_SIGNATURE"),
    ],
)
def test_a_call_that_is_not_signed_as_sent_is_refused(
    client: TestClient, ca: NetworkCA, app: FastAPI, tamper: str, status: int, code: str
) -> None:
    identity = own_identity(ca.folder, KSZ)
    assert identity is not None
    signature = {
        "unsigned": None,
        "altered": sign(b'{"n":4}', identity, method="POST", path="/things"),
        "other_route": sign(b'{"n":3}', identity, method="POST", path="/elsewhere"),
        "garbage": "not-a-jws",
    }[tamper]
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    answer = client.post("/things", content=b'{"n":3}', headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert app.state.calls == []


def test_a_replayed_call_is_refused(client: TestClient, ca: NetworkCA, app: FastAPI) -> None:
    identity = own_identity(ca.folder, KSZ)
    assert identity is not None
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign(b'{"n":1}', identity, method="POST", path="/things"),
    }
    assert client.post("/things", content=b'{"n":1}', headers=headers).status_code == 200
    again = client.post("/things", content=b'{"n":1}', headers=headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "REPLAYED"
    assert app.state.calls == [{"n": 1}]


def test_an_institution_that_may_not_call_is_refused(client: TestClient, ca: NetworkCA, app: FastAPI) -> None:
    gent = own_identity(ca.folder, OCMW_GENT)
    assert gent is not None
    answer = client.post("/things", json={"n": 1}, auth=EnvelopeAuth(gent))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "CALLER_NOT_ALLOWED"
    assert answer.json()["error"]["details"]["allowed"] == [KSZ]
    assert app.state.calls == []


def test_a_revoked_or_foreign_caller_is_refused(
    client: TestClient, ca: NetworkCA, app: FastAPI, tmp_path: Path
) -> None:
    foreign = NetworkCA.create(tmp_path / "foreign").issue(KSZ, "KSZ elsewhere")
    answer = client.post("/things", json={"n": 1}, auth=EnvelopeAuth(foreign))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "UNTRUSTED_SENDER"
    identity = own_identity(ca.folder, KSZ)
    assert identity is not None
    ca.revoke(identity.serial)
    answer = client.post("/things", json={"n": 1}, auth=EnvelopeAuth(identity))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "UNTRUSTED_SENDER"
    assert app.state.calls == []


def test_a_service_without_a_ca_does_not_start_open(tmp_path: Path) -> None:
    with pytest.raises(TrustError) as refused:
        signed_callers(tmp_path / "empty", {KSZ}, service="x")
    assert refused.value.code == "no_ca"
    assert own_identity(tmp_path / "empty", KSZ) is None
