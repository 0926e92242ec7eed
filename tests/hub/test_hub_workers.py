"""The hub as several worker processes on one port: every answer still logged, each worker on its own chain,
the whole log verifies; and the same network on PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kruispunt.simulate.population import generate_population
from tests.conftest import POSTGRES_URL, postgres_unavailable_reason
from tests.hub.network_fixture import start_network, stop_network
from tests.hub.test_network_e2e import envelope

PERSONS = 1_000
SEED = 99
WAREHOUSE_EXTRACTS = 3 * 4
"""Exchanges `up` itself logs: the warehouse's three extracts for each of the four quarters it loads."""


def _person() -> dict[str, object]:
    return next(
        p for p in generate_population(PERSONS, SEED).records() if not p["is_bis"] and p["death_date"] is None
    )


def _exercise(hub: str) -> int:
    """Integrate one person, then 60 mixed consultations; returns how many answers came back."""
    person = _person()
    registered = httpx.post(
        f"{hub}/directory/register",
        json={
            "institution": "0212140186",
            "insz": person["insz"],
            "capacity": 2,
            "period": {"start": "2025-01-01"},
            "proof": {"person_data": {"last_name": person["last_name"], "birth_date": person["birth_date"]}},
        },
        timeout=30,
    )
    assert registered.status_code == 200, registered.text
    bodies = [
        envelope(ssin=str(person["insz"])) if k % 3 else envelope(ssin="12345678901") for k in range(60)
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda b: httpx.post(f"{hub}/hub/messages", json=b, timeout=30), bodies))
    assert all(a.status_code in (200, 400) for a in answers)
    assert sum(a.status_code == 200 for a in answers) == 40
    return len(answers) + 1


def _verify(data_dir: Path, db: str | None = None) -> dict[str, object]:
    cmd = [sys.executable, "-m", "kruispunt", "audit", "verify", "--data-dir", str(data_dir), "--json"]
    if db:
        cmd += ["--db", db]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return dict(json.loads(out.stdout))


def test_two_hub_workers_share_the_port_and_the_log(tmp_path: Path) -> None:
    network = start_network(tmp_path, persons=PERSONS, seed=SEED, hub_workers=2)
    try:
        sent = _exercise(network.hub)
        report = _verify(network.data_dir)
        assert report["checked"] == sent + WAREHOUSE_EXTRACTS
        assert report["chains"] == 2  # connections were spread over both workers
    finally:
        assert stop_network(network) == 0


def test_the_network_runs_on_postgresql(tmp_path: Path) -> None:
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    db = POSTGRES_URL.rsplit("/", 1)[0] + f"/kpe2e{tmp_path.name[-6:].lower().replace('-', '_')}"
    network = start_network(tmp_path, persons=PERSONS, seed=SEED, db=db)
    try:
        sent = _exercise(network.hub)
        assert _verify(network.data_dir, db)["checked"] == sent + WAREHOUSE_EXTRACTS
    finally:
        assert stop_network(network) == 0
        from kruispunt.core.db import component_url, drop_database

        for component in ("hub", "audit", "national_register", "bis_register", "coding", "warehouse"):
            drop_database(component_url(db, tmp_path, component))
