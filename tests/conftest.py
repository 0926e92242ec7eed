"""Shared fixtures: a fresh database per test on SQLite and, when reachable, on PostgreSQL.

PostgreSQL is at ``KRUISPUNT_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
When it cannot be reached the PostgreSQL variants are skipped with a reason that says so; `.ci/run` sets
``KRUISPUNT_REQUIRE_POSTGRES=1`` so that in CI an unreachable server fails instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from kruispunt.core.db import component_url, drop_database

POSTGRES_URL = os.environ.get(
    "KRUISPUNT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_pg_state: dict[str, str | None] = {}


def postgres_unavailable_reason() -> str | None:
    """None when PostgreSQL answers, else why not (cached for the session)."""
    if "reason" not in _pg_state:
        try:
            engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["reason"] = None
        except Exception as exc:  # any driver/network failure means "not reachable"
            _pg_state["reason"] = f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}"
    return _pg_state["reason"]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once per database backend."""
    name = str(request.param)
    if name == "postgresql":
        reason = postgres_unavailable_reason()
        if reason:
            if os.environ.get("KRUISPUNT_REQUIRE_POSTGRES") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
    return name


@pytest.fixture
def fresh_db(backend: str, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Factory: ``fresh_db("hub")`` → URL of a new, empty database for that component on this backend."""
    created: list[str] = []
    base = POSTGRES_URL.rsplit("/", 1)[0] + f"/kp{uuid.uuid4().hex[:10]}" if backend == "postgresql" else None

    def make(component: str) -> str:
        url = component_url(base, tmp_path, component)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_database(url)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly whether the PostgreSQL variants of the storage tests ran."""
    if "reason" not in _pg_state:
        return
    reason = _pg_state["reason"]
    if reason is None:
        terminalreporter.write_line(f"PostgreSQL storage tests: ran against {POSTGRES_URL}")
    else:
        terminalreporter.write_line(f"PostgreSQL storage tests: SKIPPED — {reason}", yellow=True, bold=True)


def log_entries(url: str) -> list[Any]:
    """Every entry of the hash-chained log (the audit schema) at ``url``, in order."""
    from kruispunt.audit.models import audit_entry
    from kruispunt.core.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(audit_entry).order_by(audit_entry.c.seq)))
    finally:
        engine.dispose()
