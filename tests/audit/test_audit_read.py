"""The citizen's view ("who consulted my data"), one entry by ticket, and their HTTP routes: "who consulted
my data" answers only a request the KSZ signed naming that person."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from audit_helpers import OTHER_PERSON, PERSON, REQUESTER, SOURCE, make_record
from fastapi import FastAPI
from sqlalchemy import Engine
from tests.trust.shared_ca import institution, ksz_callers, signed_for

from kruispunt.audit.api import make_router, months_before
from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter, consultations, entry_by_ticket
from kruispunt.core.web import create_service_app
from kruispunt.trust.ca import Identity

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NAMES = {REQUESTER: "Kruispuntbank", SOURCE: "Rijksregister"}


@pytest.fixture
def logged(writer: AuditWriter) -> dict[str, AuditRecord]:
    """A small log about PERSON and OTHER_PERSON, by name."""
    records = {
        "found": make_record(time=T0 - timedelta(days=1)),
        "not_found": make_record(
            time=T0 - timedelta(days=2), outcome="NO_DATA_FOUND", message_type="address_history"
        ),
        "refused": make_record(
            time=T0 - timedelta(days=3), outcome="REFUSED", destinations=(), reason_code="X"
        ),
        "refused_with_dest": make_record(time=T0 - timedelta(days=3, hours=1), outcome="REFUSED"),
        "source_error": make_record(
            time=T0 - timedelta(days=4), outcome="ERROR", reason_code="PROVIDER_TIMEOUT"
        ),
        "hub_error": make_record(time=T0 - timedelta(days=5), outcome="ERROR", destinations=()),
        "old": make_record(time=T0 - timedelta(days=400)),
        "other_person": make_record(time=T0 - timedelta(days=1), person=OTHER_PERSON),
        "search": make_record(time=T0 - timedelta(days=1), person=None),
        "two_sources": make_record(
            time=T0 - timedelta(hours=1),
            destinations=(SOURCE, "0428759497"),
            requester=None,
            requester_sector=None,
        ),
    }
    for record in records.values():
        writer.append_sync(record)
    return records


def _tickets(found: list[Any]) -> list[str]:
    return [c.ticket for c in found]


def test_consultations_filters_person_period_and_refusals(
    logged: dict[str, AuditRecord], audit_engine: Engine
) -> None:
    with audit_engine.connect() as conn:
        found = consultations(conn, insz=PERSON, since=T0 - timedelta(days=30))
    expected = ["two_sources", "found", "not_found", "source_error"]  # newest first
    assert _tickets(found) == [logged[name].ticket for name in expected]


def test_consultations_until_is_exclusive_and_since_inclusive(
    logged: dict[str, AuditRecord], audit_engine: Engine
) -> None:
    with audit_engine.connect() as conn:
        found = consultations(conn, insz=PERSON, since=T0 - timedelta(days=2), until=T0 - timedelta(days=1))
    assert _tickets(found) == [logged["not_found"].ticket]


def test_consultations_since_in_another_timezone(
    logged: dict[str, AuditRecord], audit_engine: Engine
) -> None:
    since = (T0 - timedelta(days=1, microseconds=-1)).astimezone(timezone(timedelta(hours=2)))
    with audit_engine.connect() as conn:
        found = consultations(conn, insz=PERSON, since=since)
    assert _tickets(found) == [logged["two_sources"].ticket]


def test_consultations_rejects_naive_times(audit_engine: Engine) -> None:
    with audit_engine.connect() as conn, pytest.raises(ValueError, match="timezone-aware"):
        consultations(conn, insz=PERSON, since=datetime(2025, 1, 1))


def test_consultation_fields(logged: dict[str, AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.connect() as conn:
        found = consultations(conn, insz=PERSON, since=T0 - timedelta(days=30), institution_name=NAMES.get)
    first, second = found[0], found[1]
    assert first.requester is None
    assert [(d.kbo, d.name) for d in first.destinations] == [(SOURCE, "Rijksregister"), ("0428759497", None)]
    assert second.model_dump() == {
        "ticket": logged["found"].ticket,
        "time": T0 - timedelta(days=1),
        "message_type": "identify_person",
        "version": "1",
        "requester": {"kbo": REQUESTER, "name": "Kruispuntbank", "sector": 17, "institution_type": 1},
        "user": "app-42",
        "destinations": [{"kbo": SOURCE, "name": "Rijksregister", "sector": None, "institution_type": None}],
        "capacity": 101,
        "deliberation": "24/123",
        "legal_context": "PCSA:SOCIAL_INQUIRY",
        "outcome": "DATA_FOUND",
        "chain": 0,
        "seq": second.seq,
        "entry_hash": second.entry_hash,
        "proof": None,
    }
    assert second.entry_hash is not None
    assert len(second.entry_hash) == 64


def test_entry_by_ticket(logged: dict[str, AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.connect() as conn:
        entry = entry_by_ticket(conn, logged["refused"].ticket)
        assert entry_by_ticket(conn, "00000000-0000-4000-8000-000000000000") is None
    assert entry is not None
    assert (entry.chain, entry.seq, entry.outcome, entry.reason_code, entry.destinations) == (
        0,
        3,
        "REFUSED",
        "X",
        [],
    )


def test_reads_span_every_chain(audit_engine: Engine) -> None:
    """Three worker chains: the citizen sees one list, newest first; a ticket is found in any chain."""
    times = {0: [1, 4], 2: [2, 5], 11: [3, 6]}  # hours before T0, per chain
    written: dict[str, tuple[int, int, timedelta]] = {}
    for chain, hours in times.items():
        with AuditWriter(audit_engine, chain=chain, flush_ms=0) as w:
            for h in hours:
                record = make_record(time=T0 - timedelta(hours=h))
                written[record.ticket] = (chain, w.append_sync(record), timedelta(hours=h))
    with audit_engine.connect() as conn:
        found = consultations(conn, insz=PERSON, since=T0 - timedelta(days=1))
        assert [written[c.ticket][2] for c in found] == [timedelta(hours=h) for h in range(1, 7)]
        for ticket, (chain, seq, _) in written.items():
            entry = entry_by_ticket(conn, ticket)
            assert entry is not None
            assert (entry.chain, entry.seq) == (chain, seq)
    assert sorted((chain, seq) for chain, seq, _ in written.values()) == [
        (0, 1),
        (0, 2),
        (2, 1),
        (2, 2),
        (11, 1),
        (11, 2),
    ]


def test_same_time_in_two_chains_is_listed_in_a_stable_order(audit_engine: Engine) -> None:
    tickets = []
    for chain in (3, 1):
        with AuditWriter(audit_engine, chain=chain, flush_ms=0) as w:
            record = make_record(time=T0)
            w.append_sync(record)
            tickets.append(record.ticket)
    with audit_engine.connect() as conn:
        found = consultations(conn, insz=PERSON, since=T0 - timedelta(days=1))
    assert _tickets(found) == tickets  # same time: higher chain first, as higher seq first within a chain


def test_months_before_clamps_the_day() -> None:
    assert months_before(datetime(2025, 3, 31, 8, tzinfo=UTC), 1) == datetime(2025, 2, 28, 8, tzinfo=UTC)
    assert months_before(datetime(2024, 3, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert months_before(datetime(2025, 1, 15, tzinfo=UTC), 12) == datetime(2024, 1, 15, tzinfo=UTC)
    assert months_before(datetime(2025, 1, 15, tzinfo=UTC), 120) == datetime(2015, 1, 15, tzinfo=UTC)


# -- HTTP ----------------------------------------------------------------------------------------------------


class Client:
    """A synchronous façade over ``httpx.AsyncClient`` with the ASGI transport (no server, no sockets)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        subject: str | None = None,
        signer: Identity | None = None,
    ) -> httpx.Response:
        """``GET path``, signed by the KSZ (or ``signer``) naming ``subject`` when one is given."""
        auth = signed_for(subject, signer) if subject is not None else None

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://audit.test") as http:
                return await http.get(path, params=params, auth=auth)

        return asyncio.run(call())


@pytest.fixture
def client(audit_engine: Engine) -> Client:
    app = create_service_app(title="audit-test", description="audit routes", max_body_bytes=1024)
    app.include_router(
        make_router(lambda: audit_engine, readers=ksz_callers("the log"), institution_name=NAMES.get)
    )
    return Client(app)


@pytest.fixture
def recent(writer: AuditWriter) -> dict[str, AuditRecord]:
    """Entries relative to now (the route counts months back from now)."""
    now = datetime.now(UTC)
    records = {
        "last_week": make_record(time=now - timedelta(days=7)),
        "last_year": make_record(time=now - timedelta(days=500)),
        "refused": make_record(time=now - timedelta(days=3), outcome="REFUSED", destinations=()),
    }
    for record in records.values():
        writer.append_sync(record)
    return records


def test_api_consultations(client: Client, recent: dict[str, AuditRecord]) -> None:
    answer = client.get(f"/audit/persons/{PERSON}/consultations", subject=PERSON)
    assert answer.status_code == 200
    body = answer.json()
    assert body["insz"] == PERSON
    assert body["until"] is None
    assert [c["ticket"] for c in body["consultations"]] == [recent["last_week"].ticket]
    line = body["consultations"][0]
    assert line["requester"]["name"] == "Kruispuntbank"
    assert line["destinations"] == [
        {"kbo": SOURCE, "name": "Rijksregister", "sector": None, "institution_type": None}
    ]
    assert line["deliberation"] == "24/123"
    longer = client.get(f"/audit/persons/{PERSON}/consultations", {"months": 24}, subject=PERSON).json()
    assert [c["ticket"] for c in longer["consultations"]] == [
        recent["last_week"].ticket,
        recent["last_year"].ticket,
    ]


def test_api_consultations_accepts_formatted_insz(client: Client, recent: dict[str, AuditRecord]) -> None:
    answer = client.get("/audit/persons/85.07.30-033.28/consultations", subject=PERSON)
    assert answer.status_code == 200
    assert answer.json()["insz"] == PERSON


def test_api_consultations_of_nobody_is_empty(client: Client, recent: dict[str, AuditRecord]) -> None:
    answer = client.get(f"/audit/persons/{OTHER_PERSON}/consultations", subject=OTHER_PERSON)
    assert answer.status_code == 200
    assert answer.json()["consultations"] == []


def test_who_consulted_a_person_is_shown_to_that_person_only(
    client: Client, recent: dict[str, AuditRecord]
) -> None:
    path = f"/audit/persons/{PERSON}/consultations"
    refusals = {
        "unsigned": client.get(path),
        "another person": client.get(path, subject=OTHER_PERSON),
        "another institution": client.get(path, subject=PERSON, signer=institution("0212140186")),
    }
    expected = {
        "unsigned": (401, "UNSIGNED"),
        "another person": (403, "ONLY_THE_PERSON"),
        "another institution": (403, "CALLER_NOT_ALLOWED"),
    }
    for case, answer in refusals.items():
        assert (answer.status_code, answer.json()["error"]["code"]) == expected[case], case
        assert recent["last_week"].ticket not in answer.text, case


def test_without_a_caller_check_who_consulted_is_closed(audit_engine: Engine) -> None:
    app = create_service_app(title="audit-test", description="audit routes", max_body_bytes=1024)
    app.include_router(make_router(lambda: audit_engine, readers=None))
    answer = Client(app).get(f"/audit/persons/{PERSON}/consultations", subject=PERSON)
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "NO_CALLER_CHECK")


@pytest.mark.parametrize("insz", ["12345678901", "8507300332", "85133000105", "abc"])
def test_api_invalid_insz_is_400_with_reason(client: Client, insz: str) -> None:
    answer = client.get(f"/audit/persons/{insz}/consultations", subject=insz)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "INVALID_INSZ"
    assert "not a valid INSZ" in error["message"]
    assert error["details"] == {"insz": insz}


@pytest.mark.parametrize("months", ["0", "121", "-1", "twelve"])
def test_api_months_out_of_range_is_422(client: Client, months: str) -> None:
    answer = client.get(f"/audit/persons/{PERSON}/consultations", {"months": months}, subject=PERSON)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "INVALID_REQUEST"


def test_api_entry(client: Client, recent: dict[str, AuditRecord]) -> None:
    ticket = recent["refused"].ticket
    answer = client.get(f"/audit/entries/{ticket.upper()}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ticket"] == ticket
    assert (body["chain"], body["seq"]) == (0, 3)
    assert body["outcome"] == "REFUSED"
    assert len(body["entry_hash"]) == 64


def test_api_entry_unknown_and_invalid(client: Client, recent: dict[str, AuditRecord]) -> None:
    missing = client.get("/audit/entries/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    bad = client.get("/audit/entries/not-a-ticket")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_TICKET"


def test_router_with_engine_in_a_bare_app(audit_engine: Engine, recent: dict[str, AuditRecord]) -> None:
    """Errors are JSON error bodies even without the kruispunt error handlers installed."""
    app = FastAPI()
    app.include_router(make_router(audit_engine, readers=ksz_callers("the log")))
    bare = Client(app)
    invalid = bare.get("/audit/persons/12345678901/consultations", subject="12345678901")
    assert invalid.json()["error"]["code"] == "INVALID_INSZ"
    assert bare.get(f"/audit/persons/{PERSON}/consultations").json()["error"]["code"] == "UNSIGNED"
    body = bare.get(f"/audit/persons/{PERSON}/consultations", subject=PERSON).json()
    assert body["consultations"][0]["requester"]["name"] is None
    assert "/audit/entries/{ticket}" in bare.get("/openapi.json").json()["paths"]
