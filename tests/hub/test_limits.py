"""Limits on one institution: the rate (token bucket) and a deliberation's daily quota, as units and on a
real hub process — a 429 with Retry-After, logged, while another institution is not held back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.hub.limits import DailyQuota, RateLimiter
from kruispunt.ids import make_insz
from kruispunt.network import directory
from kruispunt.network.registry import Registry
from tests.hub.network_fixture import free_port_block
from tests.hub.test_network_e2e import OCMW_GENT, envelope
from tests.hub.test_provider_failures import _wait

REPO = Path(__file__).resolve().parents[2]
PERSON = make_insz(date(1980, 5, 17), 33)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5)
    assert limiter.take("b") is None  # another institution has its own bucket
    clock.now += 0.5
    assert limiter.take("a") is None
    assert limiter.take("a") is not None
    clock.now += 100
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]  # never more than the burst saved
    assert limiter.take("a") is not None
    assert RateLimiter(0, 1).take("a") is None  # 0: no limit


def test_the_quota_counts_per_institution_and_deliberation_and_resets_at_midnight() -> None:
    now = [datetime(2026, 12, 7, 23, 59, 0, tzinfo=UTC)]
    quota = DailyQuota(today=lambda: now[0])
    assert [quota.take("a", "24/001", 2) for _ in range(2)] == [None, None]
    assert quota.take("a", "24/001", 2) == 60  # seconds to midnight
    assert quota.take("a", "24/005", 2) is None
    assert quota.take("b", "24/001", 2) is None
    now[0] += timedelta(minutes=2)
    assert quota.take("a", "24/001", 2) is None


@pytest.fixture(scope="module")
def limited_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A hub at 1 message/s (burst 3) per institution, with deliberation 24/001 capped at 5 a day."""
    data_dir: Path = tmp_path_factory.mktemp("limited")
    deliberations = data_dir / "deliberations"
    shutil.copytree(REPO / "deliberations", deliberations)
    path = deliberations / "24-001-ocmw-social-inquiry.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["max_per_day"] = 5
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    url = component_url(None, data_dir, "hub")
    upgrade(url, "hub")
    engine = make_engine(url)
    registry = Registry.load_default()
    gent = registry.institution(OCMW_GENT)
    assert gent is not None
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
    directory.bulk_load(engine, [(PERSON, gent.kbo, 17, 1, 2, None, date(2025, 1, 1), None, "SECONDARY")])
    engine.dispose()
    source_port = free_port_block(2)
    hub_port = source_port + 1
    source = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("slow_source.py")), str(source_port), "0"]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    env |= {
        "KRUISPUNT_DATA_DIR": str(data_dir),
        "KRUISPUNT_DELIBERATIONS_DIR": str(deliberations),
        "KRUISPUNT_RATE_LIMIT_PER_S": "1",
        "KRUISPUNT_RATE_LIMIT_BURST": "3",
        "KRUISPUNT_ENDPOINTS": json.dumps({"national_register": f"http://127.0.0.1:{source_port}"}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", "hub", "--port", str(hub_port)], env=env
    )
    try:
        _wait(f"http://127.0.0.1:{source_port}", source)
        _wait(f"http://127.0.0.1:{hub_port}", proc)
        yield f"http://127.0.0.1:{hub_port}"
    finally:
        for p in (proc, source):
            p.terminate()
            p.wait(timeout=20)


def test_a_flood_gets_429_with_retry_after_and_is_logged(limited_hub: str) -> None:
    answers = [
        httpx.post(f"{limited_hub}/hub/messages", json=envelope(ssin=PERSON), timeout=30) for _ in range(8)
    ]
    statuses = [a.status_code for a in answers]
    assert statuses[:3] == [200, 200, 200], [a.text for a in answers[:3]]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, statuses
    reasons = {a.json()["fault"][0]["reason"] for a in limited}
    assert reasons <= {"RATE_LIMITED", "QUOTA_EXCEEDED"}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)
    ticket = limited[0].json()["informationCBSS"]["ticketCBSS"]
    entry = httpx.get(f"{limited_hub}/audit/entries/{ticket}", timeout=10).json()
    assert entry["outcome"] == "REFUSED"


def test_the_daily_quota_of_a_deliberation_is_enforced(limited_hub: str) -> None:
    answered = 0
    over = None
    for _ in range(20):  # at 1/s: the quota of 5 (some used by the test above) is reached well within
        answer = httpx.post(f"{limited_hub}/hub/messages", json=envelope(ssin=PERSON), timeout=30)
        if answer.status_code == 200:
            answered += 1
        elif answer.json()["fault"][0]["reason"] == "QUOTA_EXCEEDED":
            over = answer
            break
        else:
            assert answer.json()["fault"][0]["reason"] == "RATE_LIMITED"
            time.sleep(float(answer.headers["Retry-After"]))
    assert over is not None
    assert int(over.headers["Retry-After"]) <= 24 * 3600
    assert "24/001" in over.json()["fault"][0]["diagnostic"]
