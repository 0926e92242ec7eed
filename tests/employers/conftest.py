"""Shared fixtures of the employers tests: the service app on a fresh database (SQLite and PostgreSQL) with a
few employers of the synthetic repertory seeded, valid worker INSZ numbers, and the declarations log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kruispunt.employers import service
from kruispunt.employers.api import create_employers_app
from kruispunt.employers.context import EmployersContext
from kruispunt.ids import make_insz
from kruispunt.simulate.employers import generate_employers
from tests.conftest import log_entries

APP_TODAY = dt.date(2024, 11, 5)
APP_SEED = 20261207


def repertory_rows(count: int, seed: int = APP_SEED) -> list[dict[str, Any]]:
    """Employers of the synthetic repertory as ``employer`` rows (valid KBO and RSZ numbers)."""
    return [
        {
            "kbo": e["kbo"],
            "rsz": e["rsz"],
            "name": e["name"],
            "category": "000",
            "joint_committee": e["joint_committee"],
            "nace": None,
            "since": dt.date(2000, 1, 1),
        }
        for e in generate_employers(seed, count).records()
    ]


def adult_inszs(count: int) -> list[str]:
    """Valid national-register numbers of adults (born 1980 onwards, one a day)."""
    return [make_insz(dt.date(1980, 1, 1) + dt.timedelta(days=i), 1 + i % 997) for i in range(count)]


@dataclass
class EmployersApp:
    client: TestClient
    ctx: EmployersContext
    log_url: str
    employers: list[dict[str, Any]]
    workers: list[str]

    def headers(self, declarant: str | None = None, **extra: str) -> dict[str, str]:
        """Headers of a request by ``declarant`` (default: the first employer itself)."""
        return {"X-Kruispunt-Declarant": declarant or self.employers[0]["kbo"], **extra}

    def logged(self) -> list[Any]:
        """Every entry of the declarations log so far."""
        return log_entries(self.log_url)


@pytest.fixture
def employers_app(fresh_db: Callable[[str], str]) -> Iterator[EmployersApp]:
    """The employers service (no delivery worker) with 4 employers, 12 adult workers, today = APP_TODAY."""
    log_url = fresh_db("employers_log")
    app = create_employers_app(
        url=fresh_db("employers"), log_url=log_url, hub_url=None, rsz_url=None, deliver=False
    )
    ctx: EmployersContext = app.state.ctx
    ctx.today = lambda: APP_TODAY
    rows = repertory_rows(4)
    with ctx.engine.begin() as conn:
        service.add_employers(conn, rows)
    with TestClient(app) as client:
        yield EmployersApp(client, ctx, log_url, rows, adult_inszs(12))
