"""Rights come to people, on the running network (``kruispunt up``), over real HTTP.

A person starts a leefloon at OCMW Gent (the OCMW opens the file): without any request, the change goes from
the OCMW's outbox to the mutations service, which delivers it to the KSZ's derived-rights engine; the person
and the members of their household then hold the social energy tariff from the first day of the quarter, and
appear in the next quarterly list of their energy supplier with that start date; FOD Economie's feed has the
grants. The end of the leefloon ends the right, for the household too.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.hub.network_fixture import RunningNetwork

pytestmark = pytest.mark.slow

OCMW_GENT = "0212140186"
FOD_ECONOMIE = "0314595348"


def _wait_for(check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    return last


def _energy(person: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in person.get("rights", []) if r.get("right") == "social_energy_tariff"]


def test_a_leefloon_started_at_an_ocmw_reaches_the_energy_supplier_for_the_household(
    network: RunningNetwork, people: list[dict[str, Any]]
) -> None:
    rights = network.urls["rights"]
    engine = create_engine(f"sqlite:///{network.data_dir / 'rights.db'}")
    with engine.connect() as conn:
        entitled = {r[0] for r in conn.execute(text("SELECT DISTINCT insz FROM entitlement"))}
        holders = {r[0] for r in conn.execute(text("SELECT DISTINCT insz FROM status_period"))}
    engine.dispose()
    households = Counter(p["household_id"] for p in people if not p["is_bis"] and p["death_date"] is None)
    person = next(
        p
        for p in people
        if not p["is_bis"]
        and p["death_date"] is None
        and p["household_id"] >= 0
        and households[p["household_id"]] >= 2
        and p["birth_year"] < 2000
        and p["relationship"] != "head"
        and p["insz"] not in entitled | holders
    )
    household = sorted(
        q["insz"]
        for q in people
        if q["household_id"] == person["household_id"] and not q["is_bis"] and q["death_date"] is None
    )
    assert not entitled & set(household)
    today = dt.date.today()
    quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    quarter = today.year * 10 + (today.month - 1) // 3 + 1
    proof = {"person_data": {"last_name": person["last_name"], "birth_date": person["birth_date"]}}

    opened = httpx.post(
        f"{network.urls['ocmws']}/members/{OCMW_GENT}/files",
        json={
            "insz": person["insz"],
            "kind": "leefloon",
            "start": today.isoformat(),
            "attrs": {"category": "cohabitant", "monthly_amount_cents": 87_654},
            "proof": proof,
        },
        timeout=30,
    )
    assert opened.status_code == 201, opened.text
    file_id = opened.json()["file"]["id"]

    # without any request: the person and every member of the household get the social energy tariff
    def granted() -> dict[str, list[dict[str, Any]]] | None:
        views = {i: httpx.get(f"{rights}/rights/persons/{i}", timeout=10).json() for i in household}
        found = {i: _energy(v) for i, v in views.items()}
        return found if all(found.values()) else None

    found = _wait_for(granted)
    assert found, httpx.get(f"{rights}/health", timeout=10).json()
    for energy in found.values():
        assert energy[0]["start"] == quarter_start.isoformat(), energy
        assert energy[0]["end"] is None, energy

    # the quarterly list of the household's supplier, with the right start date
    listing = httpx.get(f"{rights}/rights/lists/social_energy_tariff/{quarter}", timeout=30).json()
    listed = {e["insz"]: e for e in listing["entries"]}
    assert set(household) <= set(listed)
    assert {listed[i]["start"] for i in household} == {quarter_start.isoformat()}
    customers = [c for entries in listing["suppliers"].values() for c in entries if c["insz"] in household]
    assert customers, listing["suppliers"].keys()
    assert all(c["start"] == quarter_start.isoformat() for c in customers)

    # FOD Economie was told
    events = httpx.get(
        f"{rights}/rights/bodies/{FOD_ECONOMIE}/events", params={"limit": 10000}, timeout=10
    ).json()
    told = {
        e["insz"]
        for e in events["events"]
        if e["right"] == "social_energy_tariff" and e["event"] == "granted"
    }
    assert set(household) <= told

    # the end of the leefloon ends the right, for everyone in the household
    end = today + dt.timedelta(days=1)
    closed = httpx.post(
        f"{network.urls['ocmws']}/members/{OCMW_GENT}/files/{file_id}/close",
        json={"end": end.isoformat(), "proof": proof},
        timeout=30,
    )
    assert closed.status_code == 200, closed.text

    def ended() -> bool:
        views = [httpx.get(f"{rights}/rights/persons/{i}", timeout=10).json() for i in household]
        return all(_energy(v) and _energy(v)[0]["end"] == end.isoformat() for v in views)

    assert _wait_for(ended), [httpx.get(f"{rights}/rights/persons/{i}", timeout=10).json() for i in household]
