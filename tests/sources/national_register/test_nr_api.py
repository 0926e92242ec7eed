"""The hub → National Register HTTP contract (docs/architecture.md) through FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kruispunt.sources.national_register.api import create_app

from ..helpers import envelope, misspell


@pytest.fixture
def client(nr_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(nr_url)) as test_client:
        yield test_client


def _resident(people: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        p
        for p in people
        if not p["is_bis"] and p["death_date"] is None and any(c in "lmnrt" for c in p["last_name"][1:])
    )


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["component"] == "national_register"


def test_identify_person_by_insz(client: TestClient, people: list[dict[str, Any]]) -> None:
    p = _resident(people)
    for request, person in (({"insz": p["insz"]}, None), ({}, p["insz"])):
        reply = client.post("/consult/identify_person", json=envelope("identify_person", request, person))
        assert reply.status_code == 200
        body = reply.json()
        assert body["status"] == "DATA_FOUND"
        [found] = body["data"]["persons"]
        assert set(found) == {
            "insz",
            "last_name",
            "first_names",
            "birth_date",
            "sex",
            "nationality",
            "civil_state",
            "death_date",
            "address",
        }
        assert set(found["address"]) == {"street", "house_number", "postal_code", "municipality", "nis_code"}
        assert (found["insz"], found["last_name"], found["birth_date"]) == (
            p["insz"],
            p["last_name"],
            p["birth_date"],
        )
        assert found["address"]["nis_code"] == p["nis_code"]


def test_identify_person_phonetic(client: TestClient, people: list[dict[str, Any]]) -> None:
    p = _resident(people)
    request = {
        "last_name": misspell(p["last_name"]),
        "birth_date": p["birth_date"][:4] + "-00-00",
        "tolerance_years": 1,
        "maximum": 50,
    }
    body = client.post("/consult/identify_person", json=envelope("identify_person", request)).json()
    assert body["status"] == "DATA_FOUND"
    assert p["insz"] in [x["insz"] for x in body["data"]["persons"]]


def test_no_data_found(client: TestClient, people: list[dict[str, Any]]) -> None:
    bis_person = next(p for p in people if p["is_bis"])
    for message_type, request, person in (
        ("identify_person", {"insz": "85073003328"}, None),
        ("identify_person", {"insz": bis_person["insz"]}, None),
        ("identify_person", {"last_name": "Xylofoon", "birth_date": "1970-00-00"}, None),
        ("family_composition", {}, "85073003328"),
        ("address_history", {}, "85073003328"),
    ):
        reply = client.post(f"/consult/{message_type}", json=envelope(message_type, request, person))
        assert reply.status_code == 200
        assert reply.json() == {"status": "NO_DATA_FOUND", "data": None}


def test_family_composition(client: TestClient, people: list[dict[str, Any]]) -> None:
    child = next(p for p in people if p["relationship"] == "child" and p["death_date"] is None)
    reply = client.post("/consult/family_composition", json=envelope("family_composition", {}, child["insz"]))
    body = reply.json()
    assert reply.status_code == 200
    assert body["status"] == "DATA_FOUND"
    members = {m["insz"]: m["relationship"] for m in body["data"]["members"]}
    expected = {
        p["insz"]: p["relationship"]
        for p in people
        if p["household_id"] == child["household_id"] and p["death_date"] is None
    }
    assert body["data"]["household_id"] == child["household_id"]
    assert members == expected
    assert set(body["data"]["members"][0]) == {
        "insz",
        "last_name",
        "first_names",
        "birth_date",
        "sex",
        "relationship",
    }


def test_address_history(client: TestClient, people: list[dict[str, Any]]) -> None:
    p = _resident(people)
    body = client.post("/consult/address_history", json=envelope("address_history", {}, p["insz"])).json()
    assert body["status"] == "DATA_FOUND"
    addresses = body["data"]["addresses"]
    assert set(addresses[-1]) == {
        "street",
        "house_number",
        "postal_code",
        "municipality",
        "nis_code",
        "start",
        "end",
    }
    assert addresses[-1]["end"] is None
    assert addresses[-1]["street"] == p["street"]
    assert addresses[-1]["start"] == p["address_start"].isoformat()
    assert [a["start"] for a in addresses] == sorted(a["start"] for a in addresses)


def test_verify(client: TestClient, people: list[dict[str, Any]]) -> None:
    p = next(x for x in people if not x["is_bis"] and x["identity_card_number"])
    ok = client.post(
        "/persons/verify", json={"insz": p["insz"], "identity_card_number": p["identity_card_number"]}
    )
    assert ok.status_code == 200
    assert ok.json() == {"match": True, "reason": None}
    data = {
        "last_name": p["last_name"].upper(),
        "first_name": None,
        "birth_date": p["birth_date"][:7] + "-00",
    }
    ok = client.post(
        "/persons/verify",
        json={"insz": p["insz"], "sis_card_number": None, "identity_card_number": None, "person_data": data},
    )
    assert ok.json()["match"] is True
    bad = client.post(
        "/persons/verify", json={"insz": p["insz"], "person_data": {**data, "last_name": "Other"}}
    )
    assert bad.status_code == 200
    assert bad.json()["match"] is False
    assert "last name" in bad.json()["reason"]
    unknown = client.post("/persons/verify", json={"insz": "85073003328", "sis_card_number": "1234567890"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "PERSON_NOT_FOUND"


def test_unknown_message_type_is_404(client: TestClient) -> None:
    for body in (envelope("pension_rights", {}), {"garbage": True}):
        reply = client.post("/consult/pension_rights", json=body)
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "UNKNOWN_MESSAGE_TYPE"
    reply = client.post(
        "/consult/identify_person",
        json={**envelope("identify_person", {"insz": "85073003328"}), "version": "9"},
    )
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "UNKNOWN_VERSION"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/consult/identify_person", {"ticket": "t"}),
        ("/consult/identify_person", envelope("identify_person", {"insz": "12345678901"})),
        ("/consult/identify_person", envelope("identify_person", {"last_name": "Peeters"})),
        (
            "/consult/identify_person",
            envelope("identify_person", {"last_name": "Peeters", "birth_date": "1980-13-01"}),
        ),
        ("/consult/identify_person", envelope("identify_person", {"insz": "85073003328", "unknown": 1})),
        ("/consult/identify_person", envelope("identify_person", {})),
        ("/consult/identify_person", envelope("family_composition", {}, "85073003328")),
        ("/consult/identify_person", {**envelope("identify_person", {}), "person": "85073003329"}),
        ("/consult/family_composition", envelope("family_composition", {})),
        ("/consult/family_composition", envelope("family_composition", {"x": 1}, "85073003328")),
        ("/consult/address_history", envelope("address_history", {})),
        ("/persons/verify", {"insz": "85073003328"}),
        ("/persons/verify", {"insz": "85073003328", "sis_card_number": "12"}),
        ("/persons/verify", {"insz": "85073003328", "person_data": {"last_name": "X", "birth_date": "1985"}}),
        ("/persons/verify", [1, 2]),
    ],
)
def test_bad_input_is_422(client: TestClient, path: str, body: Any) -> None:
    reply = client.post(path, json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "INVALID_REQUEST"


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    for path in ("/consult/identify_person", "/persons/verify"):
        reply = client.post(path, content=b'{"ticket": ', headers={"content-type": "application/json"})
        assert reply.status_code == 422
        assert reply.json()["error"]["code"] == "INVALID_REQUEST"


def test_openapi_lists_the_contract(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/consult/identify_person",
        "/consult/family_composition",
        "/consult/address_history",
        "/persons/verify",
        "/health",
    } <= set(paths)
