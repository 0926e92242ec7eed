"""The pipeline in-process, the log or the directory failing: the caller is told, nothing is half-done."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from kruispunt.audit.schemas import AuditRecord
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import REPO_ROOT
from kruispunt.hub import errors
from kruispunt.hub.forwarding import ProviderAnswer
from kruispunt.hub.service import Consultation, Hub
from kruispunt.ids import make_insz
from kruispunt.network import directory
from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import load_deliberations
from kruispunt.network.registry import Registry

GENT = "0212140186"
PERSON = make_insz(date(1970, 3, 4), 11)


class FailingLog:
    """An audit writer whose database is gone."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> int:
        self.records.append(record)
        raise RuntimeError("database is locked")


class RecordingLog(FailingLog):
    async def append(self, record: AuditRecord) -> int:
        self.records.append(record)
        return len(self.records)


class CannedSource:
    def __init__(self) -> None:
        self.calls = 0

    async def post_json(self, *, provider: str, url: str, payload: dict[str, Any]) -> ProviderAnswer:
        self.calls += 1
        return ProviderAnswer(provider, status="DATA_FOUND", data={"persons": [{"insz": payload["person"]}]})


def make_hub(tmp_path: Path, log: Any) -> tuple[Hub, CannedSource]:
    url = component_url(None, tmp_path, "hub")
    upgrade(url, "hub")
    engine = make_engine(url)
    registry = Registry.load_default().with_endpoints({"national_register": "http://127.0.0.1:9"})
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
    directory.bulk_load(engine, [(PERSON, GENT, 17, 1, 2, None, date(2024, 1, 1), None, "SECONDARY")])
    catalogue = Catalogue.load_default()
    source = CannedSource()
    hub = Hub(
        registry=registry,
        catalogue=catalogue,
        deliberations=load_deliberations(REPO_ROOT / "deliberations", registry=registry, catalogue=catalogue),
        directory_engine=engine,
        audit=log,
        forwarder=source,  # type: ignore[arg-type]
    )
    return hub, source


def consultation() -> Consultation:
    return Consultation(
        channel="rest",
        cbe_number=GENT,
        legal_context="PCSA:SOCIAL_INQUIRY",
        message_type="identify_person",
        version="1",
        ssin=PERSON,
        body={"insz": PERSON},
    )


def test_an_allowed_answer_is_withheld_when_it_cannot_be_logged(tmp_path: Path) -> None:
    hub, source = make_hub(tmp_path, FailingLog())
    outcome = asyncio.run(hub.consult(consultation(), received=datetime.now(UTC)))
    assert source.calls == 1
    assert outcome.refusal is errors.LOG_UNAVAILABLE
    assert outcome.data is None
    assert outcome.http_status == 503
    hub.close()


def test_allowed_consultation_is_logged_with_capacity_and_deliberation(tmp_path: Path) -> None:
    log = RecordingLog()
    hub, _ = make_hub(tmp_path, log)
    outcome = asyncio.run(hub.consult(consultation(), received=datetime.now(UTC)))
    assert outcome.status == "DATA_FOUND"
    (record,) = log.records
    assert (record.capacity, record.deliberation, record.person, record.outcome) == (
        2,
        "24/001",
        PERSON,
        "DATA_FOUND",
    )
    hub.close()


def test_an_unreadable_directory_is_a_503_not_a_crash(tmp_path: Path) -> None:
    log = RecordingLog()
    hub, source = make_hub(tmp_path, log)
    hub.directory_engine.dispose()
    (tmp_path / "hub.db").unlink()
    (tmp_path / "hub.db").mkdir()  # the path now names a folder: SQLite cannot open it
    outcome = asyncio.run(hub.consult(consultation(), received=datetime.now(UTC)))
    assert outcome.refusal is errors.DIRECTORY_UNAVAILABLE
    assert source.calls == 0
    assert log.records[0].outcome == "REFUSED"
    hub.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"message_type": None}, errors.UNKNOWN_MESSAGE_TYPE),
        ({"ssin": None}, errors.PERSON_REQUIRED),
        ({"body": {"insz": 5}}, errors.SCHEMA_VIOLATION),
        ({"cbe_number": None, "sector": 17, "institution_type": 1}, errors.UNKNOWN_CUSTOMER),
    ],
    ids=["no message type", "no person", "bad body", "ambiguous sector pair"],
)
def test_refusals_before_any_source_is_asked(
    tmp_path: Path, change: dict[str, Any], reason: errors.Reason
) -> None:
    log = RecordingLog()
    hub, source = make_hub(tmp_path, log)
    outcome = asyncio.run(
        hub.consult(dataclasses.replace(consultation(), **change), received=datetime.now(UTC))
    )
    assert outcome.refusal is reason, outcome.diagnostic
    assert source.calls == 0
    assert log.records[0].reason_code == reason.code
    hub.close()


RSZ = "0206731645"
RVA = "0206737484"
FEDRIS = "0206734318"
NIC = "0410337021"


class RecordingSource(CannedSource):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    async def post_json(self, *, provider: str, url: str, payload: dict[str, Any]) -> ProviderAnswer:
        self.calls += 1
        self.urls.append(url)
        received = {"kind": "drs", "key": payload["request"]["declaration_id"], "capacity": 902}
        return ProviderAnswer(
            provider, status="DATA_FOUND", data={"received": {**received, "start": "2025-05-16"}}
        )


def _drs(scenario: str, insz: str | None) -> Consultation:
    request: dict[str, Any] = {
        "scenario": scenario,
        "declaration_id": "7",
        "risk_date": "2025-05-16",
        "form": {
            "identification": scenario,
            "creation_date": "2025-05-16",
            "creation_hour": "09:00:00",
            "attestation_status": 0,
            "declarant": "0870002007",
        },
        "employer_declaration_link": {
            "noss_registration_nbr": "010001863",
            "trusteeship": 0,
            "company_id": "0870002007",
        },
        "natural_person": {"insz": insz or PERSON},
        "worker_record_link": None,
        "occupation_link": {
            "dimona_period_id": "100000000001",
            "worker_type": "OTH",
            "start": "2021-01-01",
            "end": None,
            "joint_committee": "124",
        },
        "wage_data": None,
        "risk": {
            "WECH001": {"end_of_contract_date": "2025-05-15", "reason": "resignation"},
            "ZIMA001": {
                "incapacity_start": "2025-05-16",
                "kind": "sickness",
                "last_day_worked": "2025-05-15",
            },
        }[scenario],
        "proof": {"person_data": {"last_name": "Peeters", "birth_date": "1970-03-04"}},
    }
    return Consultation(
        channel="rest",
        cbe_number=RSZ,
        legal_context="RSZ:SOCIAL_RISK_DECLARATION",
        message_type=f"drs_{scenario.lower()}",
        version="1",
        ssin=insz,
        body=request,
    )


def test_any_person_routes_a_declaration_to_a_provider_that_does_not_know_the_person(tmp_path: Path) -> None:
    hub, _ = make_hub(tmp_path, RecordingLog())
    source = RecordingSource()
    hub.forwarder = source  # type: ignore[assignment]
    hub.registry = hub.registry.with_endpoints({"rva": "http://rva.test", "nic": "http://nic.test"})
    stranger = make_insz(date(1981, 5, 6), 33)  # no line in the directory at all
    sent = asyncio.run(hub.consult(_drs("WECH001", stranger), received=datetime.now(UTC)))
    assert sent.status == "DATA_FOUND", sent.diagnostic
    assert sent.deliberation == "24/011"
    assert source.urls == ["http://rva.test/consult/drs_wech001"]
    assert sent.data == {"received": {"kind": "drs", "key": "7", "capacity": 902, "start": "2025-05-16"}}
    # NIC knows a person only through a mutuality's line (secondary_network): none here, nothing forwarded
    unknown = asyncio.run(hub.consult(_drs("ZIMA001", stranger), received=datetime.now(UTC)))
    assert unknown.status == "NO_DATA_FOUND"
    assert source.calls == 1
    # a declaration names its person: without one it is refused before anyone is asked
    nobody = asyncio.run(hub.consult(_drs("WECH001", None), received=datetime.now(UTC)))
    assert nobody.refusal is errors.PERSON_REQUIRED
    assert source.calls == 1
    hub.close()
