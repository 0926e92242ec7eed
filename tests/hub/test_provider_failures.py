"""A source that is down or too slow: the caller gets a clear answer (502 / 504), the exchange is logged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import make_insz
from kruispunt.network import directory
from kruispunt.network.registry import Registry
from tests.hub.network_fixture import free_port_block
from tests.hub.test_network_e2e import OCMW_GENT, envelope

NR_PERSON = make_insz(date(1980, 5, 17), 33)
BIS_PERSON = make_insz(date(1979, 2, 3), 41, bis="sex_known")


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url} exited"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


@pytest.fixture(scope="module")
def failing_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A hub whose National Register answers after 3 s (timeout 0.5 s) and whose bis register is down."""
    data_dir: Path = tmp_path_factory.mktemp("failing")
    url = component_url(None, data_dir, "hub")
    upgrade(url, "hub")
    engine = make_engine(url)
    registry = Registry.load_default()
    gent = registry.institution(OCMW_GENT)
    assert gent is not None
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
    rows = [
        (p, gent.kbo, 17, 1, 2, None, date(2025, 1, 1), None, "SECONDARY") for p in (NR_PERSON, BIS_PERSON)
    ]
    directory.bulk_load(engine, rows)
    engine.dispose()
    first = free_port_block(3)
    slow_port, dead_port, hub_port = first, first + 1, first + 2
    slow = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("slow_source.py")), str(slow_port), "3"]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    env |= {
        "KRUISPUNT_DATA_DIR": str(data_dir),
        "KRUISPUNT_PROVIDER_TIMEOUT_S": "0.5",
        "KRUISPUNT_ENDPOINTS": json.dumps(
            {
                "national_register": f"http://127.0.0.1:{slow_port}",
                "bis_register": f"http://127.0.0.1:{dead_port}",
            }
        ),
    }
    hub = subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", "hub", "--port", str(hub_port)], env=env
    )
    try:
        _wait(f"http://127.0.0.1:{slow_port}", slow)
        _wait(f"http://127.0.0.1:{hub_port}", hub)
        yield f"http://127.0.0.1:{hub_port}"
    finally:
        for proc in (hub, slow):
            proc.terminate()
            proc.wait(timeout=20)


@pytest.mark.parametrize(
    ("person", "status", "reason"),
    [(NR_PERSON, 504, "PROVIDER_TIMEOUT"), (BIS_PERSON, 502, "PROVIDER_UNAVAILABLE")],
    ids=["slow source", "source down"],
)
def test_failing_source_gets_a_clear_answer(failing_hub: str, person: str, status: int, reason: str) -> None:
    answer = httpx.post(f"{failing_hub}/hub/messages", json=envelope(ssin=person), timeout=30)
    assert answer.status_code == status, answer.text
    doc = answer.json()
    assert doc["fault"][0]["reason"] == reason
    ticket = doc["informationCBSS"]["ticketCBSS"]
    logged = httpx.get(f"{failing_hub}/audit/entries/{ticket}", timeout=5).json()
    assert logged["outcome"] == "REFUSED"
    assert logged["reason_code"] == doc["fault"][0]["reasonCode"]
