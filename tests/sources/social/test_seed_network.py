"""``kruispunt up``'s seeding with the simulated lives: one pass loads every social database, the member
directories and the hub's persons directory; a second run is a no-op; every service starts on what it left.
SQLite only (the PostgreSQL loading path is covered by test_seed.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.settings import Settings, get_settings
from kruispunt.network.models import person_line_table
from kruispunt.seed import seed_network
from kruispunt.sources.social import SERVICES

from .data import RSZ, RVA
from .helpers import envelope

lives = pytest.importorskip("kruispunt.simulate.lives")

PERSONS = 1_500
SEED = 3


def test_seed_network_loads_sources_and_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path)
    report = seed_network(settings=settings, persons=PERSONS, seed=SEED)
    assert not report.skipped_directory
    assert report.social is not None
    expected: Counter[str] = Counter()
    open_dimona: list[str] = []
    for _, statuses in lives.iter_lives(PERSONS, SEED):
        expected.update(statuses.source.tolist())
        rows = (statuses.kind == "dimona_period") & np.isnat(statuses.end)
        open_dimona.extend(statuses.insz[rows].tolist())
    files = report.social.files
    assert files["rsz"] == expected["rsz"]
    assert files["rva"] == expected["rva"]
    assert sum(v for k, v in files.items() if k.startswith("mutualities/")) == expected["nic"]
    assert sum(v for k, v in files.items() if k.startswith("ocmws/")) == expected["ocmw"]
    assert report.social.total_files == sum(expected.values())
    assert report.social.member_lines["nic"] > 0
    assert report.directory_lines > 0
    assert any("social sources:" in line for line in report.summary_lines())

    hub = make_engine(component_url(None, tmp_path, "hub"))
    with hub.connect() as conn:
        t = person_line_table.c
        line = conn.execute(
            select(t.start, t.end, t.register).where(
                t.insz == open_dimona[0], t.institution == RSZ, t.capacity == 30
            )
        ).one()
        assert line.end is None
        assert line.register == "PRIMARY"
        count = conn.execute(select(func.count()).select_from(person_line_table)).scalar_one()
    hub.dispose()
    assert count == report.directory_lines

    for key in ("keys", "examples"):
        assert (tmp_path / key).is_dir()
    assert (tmp_path / "keys" / f"{RVA}.jwk.json").exists()
    inquiry = json.loads((tmp_path / "examples" / "social_inquiry.json").read_text())
    assert inquiry["messageType"]["name"] == "social_inquiry"

    again = seed_network(settings=settings, persons=PERSONS, seed=SEED)
    assert again.skipped_directory
    assert again.social is not None
    assert again.social.skipped
    assert again.social.files == files

    # every social service starts on what the seeding left (``kruispunt serve NAME``)
    monkeypatch.setenv("KRUISPUNT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KRUISPUNT_HUB_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    from kruispunt.up import create_service_app

    try:
        for name in SERVICES:
            with TestClient(create_service_app(name)) as client:  # type: ignore[arg-type]
                health = client.get("/health")
                assert health.status_code == 200, (name, health.text)
                if name == "rva":
                    person = inquiry["ssin"]
                    mt = "social_statuses"
                    answer = client.post(f"/consult/{mt}", json=envelope(mt, person=person)).json()
                    assert answer["status"] == "DATA_FOUND"
    finally:
        get_settings.cache_clear()
