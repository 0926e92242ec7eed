"""Keys and attestations shared by the attestation tests (keys generated once per session: P-256 is fast)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from kruispunt.attest import Attestation, KeySet, SigningKey, make_kid

ONEM = "0206737484"  # valid KBO check digits
OCMW = "0212344876"
SUBJECT = "80051703308"
OTHER_SUBJECT = "85073003328"


def attestation(**changes: Any) -> Attestation:
    """A valid leefloon attestation by OCMW for SUBJECT, 2025; ``changes`` override claims."""
    claims: dict[str, Any] = {
        "id": uuid.UUID("2b1f4c3e-8a7d-4f7e-9c1a-0c7b5d2e9f10"),
        "issuer": OCMW,
        "subject": SUBJECT,
        "type": "leefloon",
        "status": {"category": "single", "amount_cents": 130945, "note": "één"},
        "valid_from": date(2025, 1, 1),
        "valid_to": date(2025, 12, 31),
        "legal_basis": "Wet van 26 mei 2002 betreffende het recht op maatschappelijke integratie, art. 14",
        "issued_at": datetime(2025, 1, 2, 9, 30, tzinfo=UTC),
    }
    claims.update(changes)
    return Attestation.model_validate(claims)


@pytest.fixture(scope="session")
def ocmw_key() -> SigningKey:
    return SigningKey.generate(kid=make_kid(OCMW, "2025-1"))


@pytest.fixture(scope="session")
def ocmw_key_2() -> SigningKey:
    return SigningKey.generate(kid=make_kid(OCMW, "2025-2"))


@pytest.fixture(scope="session")
def onem_key() -> SigningKey:
    return SigningKey.generate(kid=make_kid(ONEM, "k1"))


@pytest.fixture(scope="session")
def keys(ocmw_key: SigningKey, ocmw_key_2: SigningKey, onem_key: SigningKey) -> KeySet:
    return KeySet.of([ocmw_key, ocmw_key_2, onem_key])
