"""The social-security sources on the running network (``kruispunt up``), over real HTTP.

An OCMW integrates a person (proof checked by the National Register) and then, in ONE social-inquiry request,
gets the National Register's, RSZ's, RVA's and the mutuality's parts (the last through NIC, the managing
institution of the mutualities' secondary network), each filtered to the fields deliberation 24/005 allows.
Electronic attestations issued and signed by the sources are verified offline with the network's published
keys (``kruispunt attest verify``), and a tampered one is refused.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from jsonschema import Draft202012Validator

from kruispunt.network.catalogue import Catalogue
from kruispunt.simulate.lives import iter_lives
from tests.hub.conftest import PERSONS, SEED
from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import OCMW_GENT, consult, envelope, register

NIC = "0410337021"
POD_MI = "0865863174"
RSZ = "0206731645"
RVA = "0206737484"
NATIONAL_REGISTER = "0362475538"
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def lives(people: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per INSZ: the person (National Register view) and the kinds of files each source holds on them."""
    by_insz = {p["insz"]: {"person": p, "open": defaultdict(set), "member": {}} for p in people}
    for _, statuses in iter_lives(PERSONS, SEED):
        for insz, source, kind, member, end in zip(
            statuses.insz.tolist(),
            statuses.source.tolist(),
            statuses.kind.tolist(),
            statuses.member.tolist(),
            statuses.end,
            strict=True,
        ):
            entry = by_insz[insz]
            if np.isnat(end):
                entry["open"][source].add(kind)
            entry["member"].setdefault(source, member)
    return by_insz


def _candidates(lives: dict[str, dict[str, Any]], *, needs: dict[str, set[str]]) -> Iterator[dict[str, Any]]:
    for entry in lives.values():
        person = entry["person"]
        if person["is_bis"] or person["death_date"] is not None or person["household_id"] < 0:
            continue
        if all(kinds & entry["open"].get(source, set()) for source, kinds in needs.items()):
            yield entry


def _conforms(message: str, data: dict[str, Any]) -> None:
    """The (filtered) reply still matches the message type's reply schema in the catalogue."""
    mt = Catalogue.load_default().get(message, "1")
    assert mt is not None
    assert mt.reply_schema is not None
    errors = [e.message for e in Draft202012Validator(mt.reply_schema).iter_errors(data)]
    assert not errors, errors


def _integrate(network: RunningNetwork, person: dict[str, Any], *, capacity: int = 1) -> None:
    answer = register(network, person, cbe=OCMW_GENT, capacity=capacity)
    assert answer.status_code == 200, answer.text


def test_ocmw_social_inquiry_gathers_four_sources_each_filtered(
    network: RunningNetwork, lives: dict[str, dict[str, Any]]
) -> None:
    needs = {
        "rsz": {"dimona_period"},
        "rva": {"temporary_unemployment", "career_break", "unemployment"},
        "nic": {"health_insurance"},
    }
    entry = next(_candidates(lives, needs=needs), None)
    assert entry is not None, "the synthetic nation has nobody with files at RSZ, RVA and a mutuality"
    person = entry["person"]
    _integrate(network, person)

    answer = consult(
        network, envelope(message="social_inquiry", ssin=person["insz"], request={}, cbe=OCMW_GENT)
    )
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["status"]["value"] == "DATA_FOUND", doc
    data = doc["data"]
    _conforms("social_inquiry", data)
    # one request, four sources: the National Register, RSZ, RVA and (through NIC) the mutuality
    assert data["person"]["insz"] == person["insz"]
    assert data["person"]["last_name"] == person["last_name"]
    assert any(m["insz"] == person["insz"] for m in data["household"])
    assert data["employment"], data
    assert data["unemployment"], data
    assert data["health_insurance"], data
    mutuality = entry["member"]["nic"]
    assert {r["institution"] for r in data["health_insurance"]} == {mutuality}
    assert {r["kind"] for r in data["unemployment"]} <= needs["rva"]
    # each source's part filtered to what deliberation 24/005 allows
    filtered = set(doc["dataFilters"]["filteredElement"])
    assert {"employment[].dimona_id", "employment[].employer_rsz"} <= filtered
    assert "health_insurance[].title" in filtered
    assert doc["deliberation"] == "24/005"
    for record in data["employment"]:
        assert "dimona_id" not in record
        assert "employer_rsz" not in record
        assert record["employer_name"]
    for record in data["health_insurance"]:
        assert "title" not in record
        assert "holder_insz" not in record
    for member in data["household"]:
        assert "sex" not in member

    # the log records the exchange with every source that was asked
    ticket = doc["informationCBSS"]["ticketCBSS"]
    logged = httpx.get(f"{network.hub}/audit/entries/{ticket}", timeout=30)
    assert logged.status_code == 200, logged.text
    assert logged.json()["outcome"] == "DATA_FOUND"
    assert {NATIONAL_REGISTER, RSZ, RVA, NIC} <= set(logged.json()["destinations"])


def test_a_person_not_integrated_is_refused_before_any_source_is_asked(
    network: RunningNetwork, lives: dict[str, dict[str, Any]]
) -> None:
    entries = list(_candidates(lives, needs={"rsz": {"dimona_period"}}))
    person = entries[-1]["person"]
    answer = consult(network, envelope(message="social_inquiry", ssin=person["insz"], request={}))
    assert answer.status_code == 403, answer.text
    doc = answer.json()
    assert doc.get("data") is None
    assert doc["fault"][0]["reason"] == "PERSON_NOT_INTEGRATED"
    logged = httpx.get(f"{network.hub}/audit/entries/{doc['informationCBSS']['ticketCBSS']}", timeout=30)
    assert logged.json()["outcome"] == "REFUSED"
    assert logged.json()["destinations"] == []


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _verify(token_file: Path, keys_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kruispunt", "attest", "verify", str(token_file), "--keys", str(keys_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("message", "source", "kinds", "issuer_is_member"),
    [
        ("attestation_unemployment", "rva", {"unemployment", "temporary_unemployment"}, False),
        ("attestation_leefloon", "ocmw", {"leefloon", "equivalent_leefloon"}, True),
    ],
)
def test_attestation_verified_offline_and_tampering_refused(
    network: RunningNetwork,
    lives: dict[str, dict[str, Any]],
    tmp_path: Path,
    message: str,
    source: str,
    kinds: set[str],
    issuer_is_member: bool,
) -> None:
    entry = next(_candidates(lives, needs={source: kinds}), None)
    assert entry is not None, f"nobody in the synthetic nation has an open {source} file of {kinds}"
    person = entry["person"]
    _integrate(network, person)

    answer = consult(network, envelope(message=message, ssin=person["insz"], request={}))
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["status"]["value"] == "DATA_FOUND", doc
    _conforms(message, doc["data"])
    attestations = doc["data"]["attestations"]
    assert attestations
    first = attestations[0]
    assert first["subject"] == person["insz"]
    if issuer_is_member:  # a secondary network: the member OCMW signs, not the managing institution
        assert first["issuer"] == entry["member"][source]
    assert first["legal_basis"]

    keys = httpx.get(f"{network.hub}/hub/keys", timeout=30)
    assert keys.status_code == 200, keys.text
    keys_file = tmp_path / "network.jwks.json"
    keys_file.write_text(keys.text, encoding="utf-8")
    assert all("d" not in k for k in keys.json()["keys"])  # public keys only

    token_file = tmp_path / "attestation.jws"
    token_file.write_text(first["token"], encoding="utf-8")
    ok = _verify(token_file, keys_file)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    header, payload, signature = first["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["status"]["monthly_amount_cents"] = 99_999_999
    claims["valid_to"] = None
    forged = (
        f"{header}.{_b64(json.dumps(claims, separators=(',', ':'), sort_keys=True).encode())}.{signature}"
    )
    tampered = tmp_path / "tampered.jws"
    tampered.write_text(forged, encoding="utf-8")
    refused = _verify(tampered, keys_file)
    assert refused.returncode == 1, refused.stdout + refused.stderr

    # the attestation now appears in the person's list of attestations
    listed = consult(network, envelope(message="list_of_attestations", ssin=person["insz"], request={}))
    assert listed.status_code == 200, listed.text
    ids = {a["id"] for a in listed.json()["data"]["attestations"]}
    assert first["id"] in ids


def test_social_statuses_come_from_every_source_that_knows_the_person(
    network: RunningNetwork, lives: dict[str, dict[str, Any]]
) -> None:
    entry = next(
        _candidates(lives, needs={"rsz": {"dimona_period"}, "child_benefit": {"allowance_recipient"}}), None
    )
    assert entry is not None
    person = entry["person"]
    _integrate(network, person)
    answer = consult(network, envelope(message="social_statuses", ssin=person["insz"], request={}))
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    _conforms("social_statuses", data)
    assert data["employment"]
    assert data["child_benefit"]
    assert {r["kind"] for r in data["child_benefit"]} >= {"allowance_recipient"}
    for record in data["employment"]:  # 24/006 lets an OCMW see the employer's name, not the period id
        assert set(record) <= {"kind", "institution", "start", "end", "employer_name"}
