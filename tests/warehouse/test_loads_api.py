"""The operators' load route: one load at a time, a second one refused at once (409) instead of waiting,
a failed load a clear 502."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kruispunt.warehouse import service
from kruispunt.warehouse.loads_api import create_loads_router


def test_a_second_load_while_one_runs_is_refused_at_once(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def fetch(quarter: str) -> dict[str, pa.Table]:
        started.set()
        assert release.wait(30)
        raise service.LoadError("the hub refused the persons extract")

    app = FastAPI()
    app.include_router(create_loads_router(service.Folders(tmp_path), fetch=fetch))
    with TestClient(app) as client:
        answers: list[int] = []
        first = threading.Thread(
            target=lambda: answers.append(
                client.post("/warehouse/loads", json={"quarter": "2024Q4"}).status_code
            )
        )
        first.start()
        try:
            assert started.wait(30)
            second = client.post("/warehouse/loads", json={"quarter": "2024Q3"})
            assert second.status_code == 409
            assert "running" in second.json()["detail"]
        finally:
            release.set()
            first.join(30)
        assert answers == [502]
        # the lock is free again: the next load runs (and fails, as this fetch always does)
        started.clear()
        release.set()
        assert client.post("/warehouse/loads", json={"quarter": "2024Q3"}).status_code == 502
