"""The rights service over HTTP (SQLite and PostgreSQL): a citizen's rights with why, a granting body's feed,
the quarterly lists, municipal matching — and bad input answered 4xx (or 503 when the register is needed and
absent), never a 5xx for input."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from kruispunt.core.db import make_engine
from kruispunt.rights.api import create_rights_app
from tests.rights.conftest import ADULT, CHILD, FOD_ECONOMIE, NEIGHBOUR, OCMW_GENT, PARTNER
from tests.rights.test_service import _open_leefloon, _seed_household


@pytest.fixture
def client(fresh_db: Callable[[str], str]) -> Iterator[TestClient]:
    url = fresh_db("rights")
    app = create_rights_app(url=url, mutations_url=None, hub_url=None)
    engine = make_engine(url)
    _seed_household(engine)
    _open_leefloon(engine)
    engine.dispose()
    with TestClient(app) as c:
        yield c


def test_a_citizen_sees_each_right_and_why(client: TestClient) -> None:
    view = client.get(f"/rights/persons/{PARTNER}").json()
    energy = [r for r in view["rights"] if r["right"] == "social_energy_tariff"]
    assert energy, view
    assert energy[0]["start"] == "2026-10-01"
    assert client.get("/rights/persons/12345678901").status_code == 400


def test_the_granting_body_reads_its_feed_by_cursor(client: TestClient) -> None:
    first = client.get(f"/rights/bodies/{FOD_ECONOMIE}/events", params={"limit": 1}).json()
    assert len(first["events"]) == 1
    rest = client.get(f"/rights/bodies/{FOD_ECONOMIE}/events", params={"after": first["next"]}).json()
    told = {e["insz"] for e in first["events"] + rest["events"]}
    assert {ADULT, PARTNER, CHILD} <= told
    assert NEIGHBOUR not in told
    assert client.get("/rights/bodies/0123456789/events").status_code == 400


def test_quarterly_lists(client: TestClient) -> None:
    listing = client.get("/rights/lists/social_energy_tariff/20264").json()
    assert {ADULT, PARTNER, CHILD} <= {e["insz"] for e in listing["entries"]}
    assert client.get("/rights/lists/no_such_right/20264").status_code == 404
    assert client.get("/rights/lists/social_energy_tariff/20265").status_code == 422


def test_municipal_matching(client: TestClient) -> None:
    body = {
        "municipality": "0207451227",
        "statuses": ["leefloon_or_equivalent"],
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "rows": [{"insz": ADULT}, {"insz": NEIGHBOUR}, {"insz": "12345678901"}],
    }
    answer = client.post("/rights/matching", json=body)
    assert answer.status_code == 200, answer.text
    lines = answer.json()["lines"]
    assert [s["status"] for s in lines[0]["statuses"]] == ["leefloon_or_equivalent"]
    assert lines[1]["statuses"] == []
    assert lines[2]["error"] == "INVALID_INSZ"
    # a line by name needs the National Register through the hub, which this service was not given
    by_name = {**body, "rows": [{"last_name": "Peeters", "birth_date": "1985-03-14"}]}
    assert client.post("/rights/matching", json=by_name).status_code == 503
    wrong = {**body, "period_end": "2025-01-01"}
    assert client.post("/rights/matching", json=wrong).status_code == 422
    assert client.post("/rights/matching", json={**body, "municipality": "123"}).status_code == 400
    assert client.post("/rights/matching", json={"rows": []}).status_code == 422
    assert client.post("/rights/matching", json={**body, "statuses": ["nope"]}).status_code == 422


def test_the_catalogue(client: TestClient) -> None:
    doc = client.get("/rights/catalogue").json()
    assert "social_energy_tariff" in doc["rights"]
    assert "leefloon_or_equivalent" in doc["statuses"]
    assert OCMW_GENT  # the statuses come from the sources named in the catalogue
