"""Fixtures of the audit tests: a migrated audit database per backend, a running writer, record factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from audit_helpers import varied_record
from sqlalchemy import Engine

from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter
from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade


@pytest.fixture
def audit_url(fresh_db: Callable[[str], str]) -> str:
    """URL of a fresh, migrated audit database."""
    url = fresh_db("audit")
    upgrade(url, "audit")
    return url


@pytest.fixture
def audit_engine(audit_url: str) -> Iterator[Engine]:
    engine = make_engine(audit_url)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(audit_engine: Engine) -> Iterator[AuditWriter]:
    """A started writer with a short window; closed after the test."""
    w = AuditWriter(audit_engine, flush_ms=1, batch_max=64)
    w.start()
    yield w
    w.close()


@pytest.fixture
def chain(writer: AuditWriter) -> list[AuditRecord]:
    """Ten varied entries (seq 1..10) written through the writer."""
    records = [varied_record(i) for i in range(1, 11)]
    for record in records:
        writer.append_sync(record)
    return records
