"""Electronic attestations issued by a source: signed with the issuer's own key, verifiable with the published
key set, stored, listed again (ListOfAttestations); a tampered token is refused."""

from __future__ import annotations

import base64
import json
import stat
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kruispunt.attest import AttestationError, KeySet, verify

from .conftest import Urls
from .data import NOBODY, P1, P2, P3, RVA, TODAY
from .helpers import envelope, source_app

UNEMPLOYMENT_LAW = "Koninklijk besluit van 25 november 1991 houdende de werkloosheidsreglementering"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_attestation_issued_verified_listed_and_tampering_refused(social_urls: Urls, keys_dir: Path) -> None:
    urls = social_urls("rva")
    with TestClient(source_app("rva", urls[("rva", None)], keys_dir)) as client:
        answer = client.post("/consult/attestation_unemployment", json=envelope("attestation_unemployment"))
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert doc["status"] == "DATA_FOUND"
        [attestation] = doc["data"]["attestations"]
        assert attestation["issuer"] == RVA
        assert attestation["subject"] == P1
        assert attestation["type"] == "unemployment"
        assert attestation["legal_basis"] == UNEMPLOYMENT_LAW
        # in force from the requested day (default: today) for 90 days, the file being open
        assert attestation["valid_from"] == TODAY.isoformat()
        assert attestation["valid_to"] == "2025-08-30"
        assert attestation["status"] == {
            "kind": "temporary_unemployment",
            "institution": RVA,
            "reason": "economic",
            "employer_kbo": "0870002007",
            "payment_body": "HVW",
        }

        jwks = client.get("/.well-known/jwks.json").json()
        assert [k["kid"] for k in jwks["keys"]] == [f"{RVA}:1"]
        assert all("d" not in k for k in jwks["keys"])
        keys = KeySet.from_jwks(jwks)
        verified = verify(attestation["token"], keys, on=TODAY)
        assert verified.in_force
        assert str(verified.attestation.id) == attestation["id"]
        assert verified.attestation.model_dump(mode="json") == {
            k: v for k, v in attestation.items() if k != "token"
        }

        header, payload, signature = attestation["token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["valid_to"] = "2099-12-31"
        forged = (
            f"{header}.{_b64(json.dumps(claims, separators=(',', ':'), sort_keys=True).encode())}.{signature}"
        )
        with pytest.raises(AttestationError) as refused:
            verify(forged, keys, on=TODAY)
        assert refused.value.code == "bad_signature"

        # the files of P2 ended before that day: nothing in force, nothing issued
        on = {"on": "2024-06-01"}
        past = client.post(
            "/consult/attestation_unemployment", json=envelope("attestation_unemployment", on, person=P2)
        )
        assert past.json() == {"status": "NO_DATA_FOUND", "data": None}
        # … but on a day inside the unemployment file, the attestation ends with the file
        inside = {"on": "2023-12-01"}
        earlier = client.post(
            "/consult/attestation_unemployment", json=envelope("attestation_unemployment", inside, person=P2)
        ).json()["data"]["attestations"][0]
        assert (earlier["valid_from"], earlier["valid_to"]) == ("2023-12-01", "2023-12-31")
        assert verify(earlier["token"], keys, on=date(2023, 12, 15)).in_force

        listed = client.post("/consult/list_of_attestations", json=envelope("list_of_attestations")).json()
        assert listed["status"] == "DATA_FOUND"
        assert listed["data"]["attestations"] == [attestation]
        both = client.post("/consult/list_of_attestations", json=envelope("list_of_attestations", person=P2))
        assert [a["id"] for a in both.json()["data"]["attestations"]] == [earlier["id"]]
        nothing = client.post(
            "/consult/list_of_attestations", json=envelope("list_of_attestations", person=NOBODY)
        )
        assert nothing.json()["status"] == "NO_DATA_FOUND"

    # the key is the institution's own, kept in the keys folder; its public half is published beside it
    private = keys_dir / f"{RVA}.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = json.loads((keys_dir / f"{RVA}.jwk.json").read_text())
    assert public == jwks["keys"][0]


def test_a_source_without_attestations_has_no_key(keys_dir: Path, sqlite_urls: Urls) -> None:
    urls = sqlite_urls("han")
    with TestClient(source_app("han", urls[("han", None)], keys_dir)) as client:
        disability = client.post(
            "/consult/attestation_disability_allowance",
            json=envelope("attestation_disability_allowance", person=P3),
        ).json()
        [issued] = disability["data"]["attestations"]
        assert issued["status"]["kind"] == "integration_allowance"
        assert issued["type"] == "disability_allowance"
    rsz_url = sqlite_urls("rsz")[("rsz", None)]
    with TestClient(source_app("rsz", rsz_url, keys_dir)) as client:
        assert client.get("/.well-known/jwks.json").json() == {"keys": []}
        listed = client.post("/consult/list_of_attestations", json=envelope("list_of_attestations")).json()
        assert listed["status"] == "NO_DATA_FOUND"
    assert not (keys_dir / "0206731645.pem").exists()
