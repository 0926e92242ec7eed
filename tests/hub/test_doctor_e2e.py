"""``kruispunt doctor`` on the running network (``kruispunt up``): every check passes — the development
CA and every institution's certificate, private keys, every database at its migration head, the log's
chains, every service answering."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.hub.network_fixture import RunningNetwork

pytestmark = pytest.mark.slow

SOURCES_NOT_SERVICES = {"hub", "mutations", "coding", "warehouse", "idp", "portal"}


def test_the_doctor_finds_the_running_network_in_order(network: RunningNetwork) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    env |= {
        "KRUISPUNT_DATA_DIR": str(network.data_dir),
        "KRUISPUNT_ENDPOINTS": json.dumps(
            {k: v for k, v in network.urls.items() if k not in SOURCES_NOT_SERVICES}
        ),
        "KRUISPUNT_HUB_URL": network.urls["hub"],
        "KRUISPUNT_PORTAL_URL": network.urls["portal"],
    }
    done = subprocess.run(
        [sys.executable, "-m", "kruispunt", "doctor", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert failed == [], failed
    assert done.returncode == 0
    areas = {c["area"] for c in report["checks"]}
    assert {"trust", "keys", "migrations", "log", "services"} <= areas
    assert sum(c["area"] == "migrations" for c in report["checks"]) >= 10
    assert sum(c["area"] == "trust" and c["name"].startswith("certificate") for c in report["checks"]) >= 19
