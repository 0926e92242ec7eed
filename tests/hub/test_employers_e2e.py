"""Employer declarations on the running network (``kruispunt up``), over real HTTP: collected once, reused.

A DmfA is declared for a worker whose Dimona period the RSZ already holds; then the employer declares the end
of the contract (WECH001) with only the risk-specific data. The employers service links the employment and
wage data from the DmfA it holds, and its outbox delivers the declaration through the hub to the RVA, which
stores it and registers the worker; the RVA then reads it through the hub, with the wages pulled from the
DmfA.
The DmfA itself reaches the RSZ source, where the RVA consults it under its deliberation.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from kruispunt.employers import dmfa, dmfa_xml
from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import consult, envelope, register

RVA = "0206737484"
UNEMPLOYMENT = "ONEM:UNEMPLOYMENT_INSURANCE"

pytestmark = pytest.mark.slow


def _seeded_worker(network: RunningNetwork, people: list[dict[str, Any]], quarter_start: dt.date) -> Any:
    """A living resident with an open, seeded Dimona period (worker type OTH) that covers the quarter."""
    alive = {p["insz"] for p in people if not p["is_bis"] and p["death_date"] is None}
    engine = create_engine(f"sqlite:///{network.data_dir / 'employers.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.insz, p.id, e.kbo, e.rsz, e.name, e.category FROM dimona_period p "
                "JOIN employer e ON e.kbo = p.employer_kbo WHERE p.\"end\" IS NULL AND p.worker_type = 'OTH' "
                "AND p.start <= :start ORDER BY p.id"
            ),
            {"start": quarter_start.isoformat()},
        ).all()
    engine.dispose()
    return next(r for r in rows if r.insz in alive)


def _wait_for(check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    return last


def test_wech001_reaches_rva_with_the_wages_of_the_dmfa(
    network: RunningNetwork, people: list[dict[str, Any]]
) -> None:
    employers = network.urls["employers"]
    quarter = dmfa.last_closed_quarter(dt.date.today())
    year, q = divmod(quarter, 10)
    quarter_start = dt.date(year, 3 * q - 2, 1)
    worker = _seeded_worker(network, people, quarter_start)
    declarant = {"x-kruispunt-declarant": worker.kbo}

    # the DmfA of the quarter, as an XML file
    buffer = io.BytesIO()
    employer = {"kbo": worker.kbo, "rsz": worker.rsz, "category": worker.category}
    dmfa_xml.write_sample(buffer, employer=employer, workers=[worker.insz], quarter=quarter)
    answer = httpx.post(
        f"{employers}/dmfa/files",
        content=buffer.getvalue(),
        headers={**declarant, "content-type": "application/xml"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    assert [d["result"] for d in answer.json()["declarations"]] in (["A"], ["W"])

    # the end of the contract: only the risk-specific data
    end = dt.date.today() - dt.timedelta(days=3)
    drs = httpx.post(
        f"{employers}/drs/WECH001",
        json={
            "employer": worker.kbo,
            "insz": worker.insz,
            "risk": {"end_of_contract_date": end.isoformat(), "reason": "dismissal"},
        },
        headers=declarant,
        timeout=30,
    )
    assert drs.status_code == 201, drs.text
    declared = drs.json()
    assert declared["result"] in ("A", "W"), declared
    location = drs.headers["location"]

    # delivered through the hub by the outbox, seconds later
    def delivered() -> dict[str, Any] | None:
        view = httpx.get(f"{employers}{location}", headers=declarant, timeout=10).json()
        delivery = view.get("delivery") or {}
        assert delivery.get("state") != "failed", delivery
        return view if delivery.get("state") == "delivered" else None

    assert _wait_for(delivered), "the WECH001 was not delivered"

    # the RVA (registered by the declaration it received) reads it through the hub, wages from the DmfA
    reply = consult(
        network,
        envelope(
            cbe=RVA,
            message="social_risk_declarations",
            legal_context=UNEMPLOYMENT,
            ssin=worker.insz,
            request={},
        ),
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"]["value"] == "DATA_FOUND", body
    found = [d for d in body["data"]["declarations"] if d.get("scenario") == "WECH001"]
    assert found, body["data"]
    wage_data = found[0]["wage_data"]
    assert wage_data, found[0]
    assert str(quarter) in str(wage_data) or f"{year}-{q}" in str(wage_data), wage_data
    assert found[0]["employer_declaration_link"], found[0]

    # the DmfA itself reached the RSZ source: the RVA, once it has a file on the worker, consults it under
    # deliberation 24/007
    person = next(p for p in people if p["insz"] == worker.insz)
    assert register(network, person, cbe=RVA, capacity=1).status_code == 200

    def dmfa_at_rsz() -> list[dict[str, Any]]:
        answer = consult(
            network,
            envelope(
                cbe=RVA, message="dmfa_quarters", legal_context=UNEMPLOYMENT, ssin=worker.insz, request={}
            ),
        ).json()
        quarters = (answer.get("data") or {}).get("dmfa_quarters") or []
        return [
            x for x in quarters if x.get("quarter") == f"{year}-{q}" and x.get("employer_kbo") == worker.kbo
        ]

    assert _wait_for(dmfa_at_rsz), httpx.get(f"{employers}/deliveries", timeout=10).json()


def test_a_declarant_without_mandate_is_refused(
    network: RunningNetwork, people: list[dict[str, Any]]
) -> None:
    employers = network.urls["employers"]
    quarter = dmfa.last_closed_quarter(dt.date.today())
    year, q = divmod(quarter, 10)
    worker = _seeded_worker(network, people, dt.date(year, 3 * q - 2, 1))
    answer = httpx.post(
        f"{employers}/drs/WECH001",
        json={
            "employer": worker.kbo,
            "insz": worker.insz,
            "risk": {"end_of_contract_date": dt.date.today().isoformat(), "reason": "dismissal"},
        },
        headers={"x-kruispunt-declarant": "0400378485"},
        timeout=30,
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "NO_MANDATE"


def test_a_worker_hired_by_dimona_in_is_visible_to_rva_through_the_hub(
    network: RunningNetwork, people: list[dict[str, Any]]
) -> None:
    employers = network.urls["employers"]
    today = dt.date.today()
    employer = _seeded_worker(network, people, today)
    engine = create_engine(f"sqlite:///{network.data_dir / 'employers.db'}")
    with engine.connect() as conn:
        known = {r.insz for r in conn.execute(text("SELECT DISTINCT insz FROM dimona_period"))}
    engine.dispose()
    hired = next(
        p
        for p in people
        if not p["is_bis"]
        and p["death_date"] is None
        and p["insz"] not in known
        and 1965 < p["birth_year"] < 2000
    )
    declarant = {"x-kruispunt-declarant": employer.kbo}
    answer = httpx.post(
        f"{employers}/declarations",
        json={
            "employer": {"enterpriseNumber": employer.kbo},
            "worker": {"ssin": hired["insz"]},
            "dimonaIn": {
                "features": {"workerType": "OTH", "jointCommissionNumber": "XXX"},
                "startDate": today.isoformat(),
            },
        },
        headers=declarant,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    declared = answer.json()
    assert declared["declarationStatus"]["result"] in ("A", "W"), declared
    period_id = declared["declarationStatus"]["period"]["id"]
    assert answer.headers["location"] == f"/declarations/{declared['declarationId']}"

    # the RVA registers its own file on the worker, then consults the Dimona periods through the hub
    assert register(network, hired, cbe=RVA, capacity=1).status_code == 200

    def visible() -> list[dict[str, Any]]:
        reply = consult(
            network,
            envelope(
                cbe=RVA, message="dimona_periods", legal_context=UNEMPLOYMENT, ssin=hired["insz"], request={}
            ),
        ).json()
        periods = (reply.get("data") or {}).get("dimona_periods") or []
        return [p for p in periods if str(p.get("dimona_id") or p.get("id")) == str(period_id)]

    found = _wait_for(visible, timeout_s=30)
    assert found, httpx.get(f"{employers}/deliveries", timeout=10).json()
    assert found[0]["employer_kbo"] == employer.kbo
    assert found[0]["worker_type"] == "OTH"
