"""Helpers of the social-source tests (imported relatively: ``from .helpers import envelope``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from kruispunt.sources.social.api import create_members_app, create_source_app
from kruispunt.sources.social.clients import HubDirectory, ManagingDirectory
from kruispunt.sources.social.definitions import definition
from kruispunt.sources.social.service import SocialSource

from .data import P1, TODAY

REQUESTER = {"institution": "0212140186", "sector": 17, "institution_type": 1}


def envelope(
    message_type: str,
    request: dict[str, Any] | None = None,
    *,
    person: str | None = P1,
    provider: str | None = None,
    version: str = "1",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ticket": "7b0c3c5e-2f5c-4a4e-9d59-3f6f8f0b1a11",
        "message_type": message_type,
        "version": version,
        "person": person,
        "request": request if request is not None else {},
        "requester": REQUESTER,
    }
    if provider is not None:
        doc["provider"] = provider
    return doc


def source_app(service: str, url: str, keys_dir: Path | None, hub: HubDirectory | None = None) -> FastAPI:
    """A primary source whose clock says :data:`TODAY`."""
    d = definition(service)
    return create_source_app(
        d,
        url=url,
        keys_dir=keys_dir,
        hub_url=None,
        source=SocialSource.of(d, keys_dir=keys_dir, today=lambda: TODAY),
        hub=hub,
    )


def members_app(
    service: str,
    urls: dict[str, str],
    keys_dir: Path | None,
    *,
    hub: HubDirectory | None = None,
    managing: ManagingDirectory | None = None,
    sources: dict[str, SocialSource] | None = None,
) -> FastAPI:
    d = definition(service)
    sources = sources or {
        kbo: SocialSource.of(d, keys_dir=keys_dir, institutions=[kbo], today=lambda: TODAY)
        for kbo in d.institutions
    }
    return create_members_app(
        d,
        urls=urls,
        keys_dir=keys_dir,
        hub_url=None,
        managing_url=None,
        sources=sources,
        hub=hub,
        managing=managing,
    )


PROOF = {"person_data": {"last_name": "Peeters", "birth_date": "1980-03-13"}}

_RISKS: dict[str, dict[str, Any]] = {
    "WECH001": {
        "end_of_contract_date": "2025-05-15",
        "last_day_worked": "2025-05-15",
        "reason": "dismissal",
        "notice": None,
        "indemnity": {"weeks": 13, "amount_cents": 1_250_000},
        "company_supplement": False,
    },
    "WECH005": {
        "month": "2025-04",
        "days": [{"day": "2025-04-07", "reason": "economic", "hours": 760}],
        "total_hours": 760,
    },
    "ZIMA001": {"incapacity_start": "2025-05-16", "kind": "sickness", "last_day_worked": "2025-05-15"},
    "AOAT001": {
        "accident_date": "2025-05-16",
        "accident_time": "10:30",
        "place": {"kind": "usual_workplace", "traffic_accident": False, "country": "BE"},
        "circumstances": "fell from a ladder",
        "injuries": [{"nature": "fracture", "body_part": "left wrist"}],
        "consequences": "temporary_incapacity",
    },
}


def drs_request(
    scenario: str, insz: str, declaration_id: str, *, risk_date: str = "2025-05-16"
) -> dict[str, Any]:
    """A social-risk declaration as the RSZ forwards it (valid against the catalogue's request schema)."""
    return {
        "scenario": scenario,
        "declaration_id": declaration_id,
        "risk_date": risk_date,
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
        "natural_person": {"insz": insz},
        "worker_record_link": {"employer_class": "000", "worker_code": "015", "quarter": 20251},
        "occupation_link": {
            "dimona_period_id": "100000000001",
            "worker_type": "OTH",
            "start": "2021-01-01",
            "end": None,
            "joint_committee": "124",
        },
        "wage_data": {
            "reference_period": {"start": "2025-01-01", "end": "2025-03-31"},
            "quarters": [
                {"quarter": 20251, "worker_code": "015", "gross_cents": 812_345, "days": 6500, "hours": 49400}
            ],
            "gross_cents": 812_345,
            "days": 6500,
            "hours": 49400,
        },
        "risk": _RISKS[scenario],
        "proof": PROOF,
    }
