"""The bis register HTTP contract through FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.be import bis

from kruispunt.sources.bis_register.api import create_app

from ..helpers import envelope

REQUEST = {
    "last_name": "Kowalski",
    "first_names": "Piotr",
    "birth_date": "1988-11-23",
    "sex": "M",
    "nationality": "PL",
    "address": {
        "street": "ul. Długa",
        "house_number": "5",
        "postal_code": "00-001",
        "municipality": "Warszawa",
        "country": "PL",
    },
}


@pytest.fixture
def client(bis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(bis_url)) as test_client:
        yield test_client


def test_health(client: TestClient) -> None:
    assert client.get("/health").json()["component"] == "bis_register"


def test_issue_then_identify_and_verify(client: TestClient) -> None:
    reply = client.post("/persons", json=REQUEST)
    assert reply.status_code == 201
    number = reply.json()["insz"]
    assert bis.is_valid(number)
    assert number.startswith("885123")
    body = client.post("/consult/identify_person", json=envelope("identify_person", {"insz": number})).json()
    assert body["status"] == "DATA_FOUND"
    [person] = body["data"]["persons"]
    assert person["last_name"] == "Kowalski"
    assert person["sex"] == "M"
    assert person["nationality"] == "PL"
    assert person["address"] == {
        "street": "ul. Długa",
        "house_number": "5",
        "postal_code": "00-001",
        "municipality": "Warszawa",
        "nis_code": None,
    }
    search = {"last_name": "kowalsky", "birth_date": "1988-00-00"}
    found = client.post("/consult/identify_person", json=envelope("identify_person", search)).json()
    assert number in [p["insz"] for p in found["data"]["persons"]]
    proof = {"insz": number, "person_data": {"last_name": "KOWALSKI", "birth_date": "1988-11-23"}}
    assert client.post("/persons/verify", json=proof).json() == {"match": True, "reason": None}


def test_sex_unknown_gets_month_plus_20(client: TestClient) -> None:
    number = client.post("/persons", json={**REQUEST, "sex": None, "birth_date": "1988-11-00"}).json()["insz"]
    assert number.startswith("883100")
    assert bis.is_valid(number)
    assert bis.get_gender(number) is None


def test_concurrent_issuance_is_unique(client: TestClient) -> None:
    def issue(i: int) -> str:
        reply = client.post("/persons", json={**REQUEST, "first_names": f"Piotr {i}", "sex": "MF"[i % 2]})
        assert reply.status_code == 201, reply.text
        return str(reply.json()["insz"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = list(pool.map(issue, range(30)))
    assert len(set(numbers)) == 30
    assert all(bis.is_valid(n) for n in numbers)


def test_loaded_non_residents_are_served(client: TestClient, people: list[dict[str, Any]]) -> None:
    p = next(x for x in people if x["is_bis"])
    body = client.post("/consult/identify_person", json=envelope("identify_person", {}, p["insz"])).json()
    assert body["status"] == "DATA_FOUND"
    assert body["data"]["persons"][0]["insz"] == p["insz"]
    nr = next(x for x in people if not x["is_bis"])
    body = client.post(
        "/consult/identify_person", json=envelope("identify_person", {"insz": nr["insz"]})
    ).json()
    assert body == {"status": "NO_DATA_FOUND", "data": None}
    unknown = client.post("/persons/verify", json={"insz": nr["insz"], "sis_card_number": "1234567890"})
    assert unknown.status_code == 404


def test_other_message_types_are_404(client: TestClient) -> None:
    for message_type in ("family_composition", "address_history"):
        reply = client.post(f"/consult/{message_type}", json=envelope(message_type, {}, "85073003328"))
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "UNKNOWN_MESSAGE_TYPE"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {**REQUEST, "sex": "X"},
        {**REQUEST, "birth_date": "1988-02-30"},
        {**REQUEST, "birth_date": "88-11-23"},
        {**REQUEST, "address": {**REQUEST["address"], "country": "Poland"}},
        {**REQUEST, "extra": 1},
        {**REQUEST, "last_name": ""},
        {**REQUEST, "birth_date": "1899-05-01"},
        {**REQUEST, "birth_date": "2999-00-00"},
    ],
)
def test_bad_issue_requests_are_422(client: TestClient, body: dict[str, Any]) -> None:
    reply = client.post("/persons", json=body)
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "INVALID_REQUEST"


def test_bad_consult_is_422(client: TestClient) -> None:
    reply = client.post("/consult/identify_person", json=envelope("identify_person", {"insz": "00000000000"}))
    assert reply.status_code == 422
