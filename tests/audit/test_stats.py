"""The log's operating figures over a time window, on entries written through the real writer (SQLite and
PostgreSQL), and their read-only route over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from audit_helpers import PERSON, REQUESTER, make_record
from sqlalchemy import Engine
from tests.browser import serving
from tests.trust.shared_ca import institution, ksz_callers, signed_for

from kruispunt.audit import stats
from kruispunt.audit.service import AuditWriter
from kruispunt.audit.stats_api import make_stats_router
from kruispunt.core.web import create_service_app

NOW = datetime(2026, 12, 7, 15, 30, 20, tzinfo=UTC)
OTHER = "0212140186"


def _write(writer: AuditWriter, when: datetime, **fields: object) -> None:
    writer.append_sync(make_record(time=when, **fields))


@pytest.fixture
def logged(writer: AuditWriter) -> None:
    """Before the window, inside it (three minutes, refusals and an error), after it — and a second chain."""
    _write(writer, NOW - timedelta(hours=2))
    _write(writer, NOW - timedelta(minutes=61))
    for i in range(4):
        _write(writer, NOW - timedelta(minutes=30, seconds=i))
    _write(
        writer, NOW - timedelta(minutes=10), outcome="REFUSED", reason_code="NO_DELIBERATION", destinations=()
    )
    _write(
        writer, NOW - timedelta(minutes=10), outcome="REFUSED", reason_code="NO_DELIBERATION", destinations=()
    )
    _write(
        writer, NOW - timedelta(minutes=10), outcome="REFUSED", reason_code="NOT_INTEGRATED", requester=OTHER
    )
    _write(writer, NOW - timedelta(minutes=9), outcome="ERROR", reason_code="PROVIDER_TIMEOUT")
    _write(writer, NOW - timedelta(minutes=1), outcome="NO_DATA_FOUND", message_type="address_history")
    _write(writer, NOW + timedelta(minutes=5))


@pytest.fixture
def second_chain(audit_engine: Engine, logged: None) -> None:
    with AuditWriter(audit_engine, chain=1, flush_ms=1) as other:
        other.append_sync(make_record(time=NOW - timedelta(minutes=2), requester=OTHER))


def test_the_window_counts_per_minute_outcome_code_type_and_institution(
    audit_engine: Engine, second_chain: None
) -> None:
    with audit_engine.connect() as conn:
        found = stats.window_stats(conn, minutes=60, now=NOW)
    assert found.total == 10
    assert found.refused == 3
    assert [m for m, _, _ in found.per_minute] == [
        "2026-12-07 15:00",
        "2026-12-07 15:20",
        "2026-12-07 15:21",
        "2026-12-07 15:28",
        "2026-12-07 15:29",
    ]
    assert [(c, r) for _, c, r in found.per_minute] == [(4, 0), (3, 3), (1, 0), (1, 0), (1, 0)]
    assert found.outcomes == {"DATA_FOUND": 5, "ERROR": 1, "NO_DATA_FOUND": 1, "REFUSED": 3}
    assert found.refusals == {"NO_DELIBERATION": 2, "NOT_INTEGRATED": 1}
    assert found.errors == {"PROVIDER_TIMEOUT": 1}
    assert found.message_types == {"identify_person": 9, "address_history": 1}
    assert [(i.kbo, i.messages, i.refused) for i in found.institutions] == [(REQUESTER, 8, 2), (OTHER, 2, 1)]
    body = found.as_json()
    assert body["messagesPerSecond"] == round(10 / 3600, 3)
    assert body["peakMessagesPerSecond"] == round(4 / 60, 3)
    assert body["latency"] is None


def test_a_short_window_and_an_empty_log(audit_engine: Engine, logged: None) -> None:
    with audit_engine.connect() as conn:
        assert stats.window_stats(conn, minutes=2, now=NOW).total == 1
        assert stats.window_stats(conn, minutes=5, now=NOW - timedelta(days=1)).total == 0
        with pytest.raises(ValueError, match="minutes must be"):
            stats.window_stats(conn, minutes=0, now=NOW)
        with pytest.raises(ValueError, match="minutes must be"):
            stats.window_stats(conn, minutes=stats.MAX_MINUTES + 1, now=NOW)


def test_an_empty_log_has_no_figures(audit_engine: Engine) -> None:
    with audit_engine.connect() as conn:
        found = stats.window_stats(conn, minutes=60, now=NOW)
    assert (found.total, found.per_minute, found.institutions) == (0, [], [])


def test_the_first_seq_of_the_window_is_found_by_binary_search(
    audit_engine: Engine, writer: AuditWriter
) -> None:
    for i in range(100):
        _write(writer, NOW - timedelta(minutes=100 - i))
    with audit_engine.connect() as conn:
        assert stats._first_seq(conn, 0, 100, NOW - timedelta(minutes=40)) == 61
        assert stats._first_seq(conn, 0, 100, NOW) is None
        assert stats._first_seq(conn, 0, 100, NOW - timedelta(days=1)) == 1


def test_the_route_answers_the_figures_and_refuses_a_bad_window(
    audit_engine: Engine, writer: AuditWriter
) -> None:
    _write(writer, datetime.now(UTC) - timedelta(minutes=3), outcome="REFUSED", reason_code="NO_DELIBERATION")
    app = create_service_app(title="audit-stats-test", description="stats", max_body_bytes=1024)
    app.include_router(make_stats_router(lambda: audit_engine, readers=ksz_callers("the log's figures")))
    operator = signed_for("operator-1")
    with serving(app) as base:
        unsigned = httpx.get(f"{base}/audit/stats", params={"minutes": 10}, timeout=10)
        assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "UNSIGNED")
        other = signed_for("operator-1", institution("0212140186"))
        refused = httpx.get(f"{base}/audit/stats", params={"minutes": 10}, timeout=10, auth=other)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "CALLER_NOT_ALLOWED")
        assert "NO_DELIBERATION" not in refused.text
        answer = httpx.get(f"{base}/audit/stats", params={"minutes": 10}, timeout=10, auth=operator)
        assert answer.status_code == 200
        body = answer.json()
        assert body["total"] == 1
        assert body["refusals"] == {"NO_DELIBERATION": 1}
        assert PERSON not in answer.text  # counts only, never a person
        for bad in ("0", "1441", "x"):
            bad_window = httpx.get(f"{base}/audit/stats", params={"minutes": bad}, timeout=10, auth=operator)
            assert bad_window.status_code == 422
