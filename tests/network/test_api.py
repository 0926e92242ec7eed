from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from kruispunt.network.api import ProofUnavailable, make_router
from kruispunt.network.deliberations import DeliberationIndex
from kruispunt.network.registry import Registry
from kruispunt.network.schemas import ProofRequest, ProofResult

from .conftest import BIS_PERSON, DELIBERATIONS_DIR, OCMW_ANTWERPEN, OCMW_GENT, PERSON_A, PERSON_B, RVA

DOWN_PERSON = "17073003384"  # the fake source is "down" for this one
BROKEN_PERSON = "75460898095"  # the fake source raises an unexpected error


class FakeSource:
    """Stands in for ``POST {source}/persons/verify``: Peeters born 1985-07-30 with SIS card 1234567890."""

    def __init__(self) -> None:
        self.calls: list[ProofRequest] = []

    async def __call__(self, request: ProofRequest) -> ProofResult:
        self.calls.append(request)
        if request.insz == DOWN_PERSON:
            raise ProofUnavailable("national register timed out")
        if request.insz == BROKEN_PERSON:
            raise RuntimeError("boom")
        if request.sis_card_number is not None:
            return ProofResult(
                match=request.sis_card_number == "1234567890",
                reason=None if request.sis_card_number == "1234567890" else "SIS card does not match",
            )
        data = request.person_data
        if (
            data is not None
            and data.last_name.upper() == "PEETERS"
            and data.birth_date in ("1985-07-30", "1985-00-00")
        ):
            return ProofResult(match=True)
        return ProofResult(match=False, reason="person data do not match the register")


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def client(
    hub_engine: Engine, registry: Registry, deliberations: DeliberationIndex, source: FakeSource
) -> Iterator[TestClient]:
    from kruispunt.core.web import create_service_app

    app = create_service_app(title="hub", description="test", max_body_bytes=65_536)
    app.include_router(
        make_router(
            engine=hub_engine,
            registry_provider=lambda: registry,
            verify_proof=source,
            deliberations_provider=lambda: deliberations,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


PROOF = {"person_data": {"last_name": "Peeters", "birth_date": "1985-07-30"}}


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "institution": OCMW_GENT,
        "insz": PERSON_A,
        "capacity": 2,
        "period": {"start": "2024-01-01", "end": None},
        "proof": PROOF,
    }
    base.update(changes)
    return base


def test_register_and_list(client: TestClient, source: FakeSource) -> None:
    first = client.post("/directory/register", json=body(phase=1))
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["action"] == "REGISTER"
    assert data["created"] is True
    assert data["insz"] == PERSON_A
    assert data["line"]["institution"] == OCMW_GENT
    assert data["line"]["period"] == {"start": "2024-01-01", "end": None}
    assert data["line"]["register"] == "SECONDARY"
    assert data["line"]["phase"] == 1
    assert source.calls[0].insz == PERSON_A
    assert source.calls[0].person_data is not None

    again = client.post("/directory/register", json=body())
    assert again.status_code == 200
    assert again.json()["created"] is False

    other = client.post(
        "/directory/register",
        json=body(
            institution=RVA,
            capacity=1,
            period={"start": "2023-01-01", "end": "2024-06-30"},
            proof={"sis_card_number": "1234567890"},
        ),
    )
    assert other.status_code == 200
    overlapping = other.json()["overlapping"]
    assert len(overlapping) == 1
    assert overlapping[0]["institution"] is None  # another institution's line: sector only
    assert (overlapping[0]["sector"], overlapping[0]["capacity"]) == (17, 2)

    listed = client.post("/directory/list", json={"institution": OCMW_ANTWERPEN, "insz": PERSON_A})
    assert listed.status_code == 200
    assert [(x["sector"], x["institution"]) for x in listed.json()["lines"]] == [(18, None), (17, None)]
    primary = client.post(
        "/directory/list",
        json={"institution": RVA, "insz": PERSON_A, "register": "PRIMARY", "on": "2024-03-01"},
    )
    assert [(x["sector"], x["institution"]) for x in primary.json()["lines"]] == [(18, RVA)]


def test_proof_mismatch_is_refused(client: TestClient) -> None:
    response = client.post(
        "/directory/register",
        json=body(proof={"person_data": {"last_name": "Janssens", "birth_date": "1985-07-30"}}),
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "PROOF_MISMATCH"
    assert error["message"] == "person data do not match the register"
    bad_card = client.post("/directory/register", json=body(proof={"sis_card_number": "0000000000"}))
    assert bad_card.status_code == 403
    assert bad_card.json()["error"]["message"] == "SIS card does not match"
    listed = client.post("/directory/list", json={"institution": OCMW_GENT, "insz": PERSON_A})
    assert listed.json()["lines"] == []


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"proof": {}}, 422, "INVALID_REQUEST"),
        ({"proof": None}, 422, "INVALID_REQUEST"),
        ({"proof": {"identity_card_number": "12"}}, 422, "INVALID_REQUEST"),
        ({"insz": "85073003329"}, 422, "INVALID_INSZ"),
        ({"insz": "8507300332"}, 422, "INVALID_REQUEST"),
        ({"capacity": 101}, 422, "UNKNOWN_CAPACITY"),
        ({"capacity": "two"}, 422, "INVALID_REQUEST"),
        ({"period": {"start": "2024-02-01", "end": "2024-01-01"}}, 422, "INVALID_REQUEST"),
        ({"period": {"start": "2024-02-30"}}, 422, "INVALID_REQUEST"),
        ({"institution": "0403019261"}, 403, "UNKNOWN_INSTITUTION"),
        ({"institution": "123"}, 422, "INVALID_REQUEST"),
        ({"colour": "red"}, 422, "INVALID_REQUEST"),
        ({"insz": DOWN_PERSON}, 503, "PROOF_SOURCE_UNAVAILABLE"),
        ({"insz": BROKEN_PERSON}, 502, "PROOF_SOURCE_ERROR"),
    ],
)
def test_register_errors(
    client: TestClient, source: FakeSource, changes: dict[str, Any], status: int, code: str
) -> None:
    response = client.post("/directory/register", json=body(**changes))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if code in ("INVALID_INSZ", "UNKNOWN_CAPACITY", "UNKNOWN_INSTITUTION", "INVALID_REQUEST"):
        assert source.calls == []  # refused before asking the source


def test_not_json_is_a_client_error(client: TestClient) -> None:
    response = client.post(
        "/directory/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert (
        client.post(
            "/directory/list", content=b"[]", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_unregister(client: TestClient) -> None:
    assert client.post("/directory/register", json=body()).status_code == 200
    closed = client.post(
        "/directory/unregister", json=body(period={"start": "2024-01-01", "end": "2024-06-30"})
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["action"] == "UNREGISTER"
    assert [x["period"] for x in closed.json()["closed"]] == [{"start": "2024-01-01", "end": "2024-06-30"}]
    again = client.post(
        "/directory/unregister", json=body(period={"start": "2024-01-01", "end": "2024-06-30"})
    )
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "NO_INSCRIPTION"
    mismatch = client.post("/directory/unregister", json=body(proof={"sis_card_number": "0000000000"}))
    assert mismatch.status_code == 403
    bad = client.post("/directory/unregister", json=body(insz="12345678901"))
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "INVALID_INSZ"


def test_list_errors(client: TestClient) -> None:
    unknown = client.post("/directory/list", json={"institution": "0403019261", "insz": PERSON_B})
    assert unknown.status_code == 403
    bad = client.post("/directory/list", json={"institution": OCMW_GENT, "insz": "12345678901"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "INVALID_INSZ"
    wrong_register = client.post(
        "/directory/list", json={"institution": OCMW_GENT, "insz": PERSON_B, "register": "X"}
    )
    assert wrong_register.status_code == 422
    ok = client.post("/directory/list", json={"institution": OCMW_GENT, "insz": BIS_PERSON})
    assert ok.status_code == 200
    assert ok.json() == {
        "action": "LIST",
        "insz": BIS_PERSON,
        "register": "ALL",
        "lines": [],
    }


def test_reference_data(client: TestClient) -> None:
    sectors = client.get("/network/sectors").json()
    assert len(sectors) == 209
    assert sectors[0]["code"] == 0
    capacities = client.get("/network/capacities", params={"sector": 17}).json()
    assert {c["code"] for c in capacities} >= {0, 902, 999, 1, 2}
    assert all(c["sector"] in (None, 17) for c in capacities)
    assert client.get("/network/capacities", params={"sector": "x"}).status_code == 422
    assert len(client.get("/network/capacities").json()) == 106
    institutions = client.get("/network/institutions").json()
    assert {
        "kbo": OCMW_GENT,
        "name": "OCMW Gent",
        "sector": 17,
        "institution_type": 1,
        "service": "ocmws",
    } in institutions
    types = client.get("/network/message-types").json()
    names = [t["name"] for t in types]
    assert names == sorted(names)
    assert len(names) >= 30
    assert {"address_history", "family_composition", "identify_person", "social_inquiry"} <= set(names)
    identify = types[names.index("identify_person")]
    assert identify["soap"] == {"service_id": "OCMWCPASIdentifyPerson", "version": "20050930"}
    assert identify["request_schema"]["type"] == "object"
    deliberations = client.get("/network/deliberations").json()
    assert [d["id"] for d in deliberations][:5] == ["16/082", "24/001", "24/002", "24/003", "24/004"]
    one = client.get("/network/deliberations/24/002")
    assert one.status_code == 200
    assert one.json()["requires_integration"] is False
    missing = client.get("/network/deliberations/99/999")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "UNKNOWN_DELIBERATION"


def test_default_deliberations_provider(hub_engine: Engine, registry: Registry, source: FakeSource) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(
        make_router(engine=lambda: hub_engine, registry_provider=lambda: registry, verify_proof=source)
    )
    with TestClient(app) as test_client:
        assert len(test_client.get("/network/deliberations").json()) == len(
            list(DELIBERATIONS_DIR.glob("*.yaml"))
        )
        registered = test_client.post("/directory/register", json=body())  # engine given as a function
        assert registered.status_code == 200, registered.text


def test_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/directory/register", "/directory/unregister", "/directory/list", "/network/sectors"} <= set(
        paths
    )
