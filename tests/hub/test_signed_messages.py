"""Attacks on the hub's identity checks, on a real hub process that requires signed envelopes: an unsigned
message, an altered one, a replay, another institution's identity, an expired or revoked certificate, a
certificate of another CA — each refused with its own reason and logged; a good message passes and the
hub's answer is signed by the KSZ."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import make_insz
from kruispunt.network import KSZ, directory
from kruispunt.network.registry import Registry
from kruispunt.trust.ca import Identity, NetworkCA, load_identity
from kruispunt.trust.envelopes import SIGNATURE_HEADER, EnvelopeVerifier, sign, thumbprint
from tests.hub.network_fixture import free_port_block
from tests.hub.test_network_e2e import OCMW_GENT, envelope
from tests.hub.test_provider_failures import _wait

PERSON = make_insz(date(1980, 5, 17), 33)
RSZ = "0206731645"
PATH = "/hub/messages"


@dataclass
class SignedHub:
    url: str
    ca: NetworkCA
    gent: Identity
    rsz: Identity
    source: str
    data_dir: Path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedHub]:
    data_dir: Path = tmp_path_factory.mktemp("signed")
    url = component_url(None, data_dir, "hub")
    upgrade(url, "hub")
    engine = make_engine(url)
    registry = Registry.load_default()
    gent = registry.institution(OCMW_GENT)
    assert gent is not None
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
    directory.bulk_load(engine, [(PERSON, gent.kbo, 17, 1, 2, None, date(2025, 1, 1), None, "SECONDARY")])
    engine.dispose()
    ca = NetworkCA.create(data_dir / "trust")
    identities = {
        kbo: ca.issue(kbo, name) for kbo, name in ((OCMW_GENT, "OCMW Gent"), (RSZ, "RSZ"), (KSZ, "KSZ"))
    }
    for identity in identities.values():
        ca.save(identity)
    source_port = free_port_block(2)
    hub_port = source_port + 1
    source = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("slow_source.py")), str(source_port), "0"]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    env |= {
        "KRUISPUNT_DATA_DIR": str(data_dir),
        "KRUISPUNT_SIGNATURES": "required",
        "KRUISPUNT_ENDPOINTS": json.dumps({"national_register": f"http://127.0.0.1:{source_port}"}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", "hub", "--port", str(hub_port)], env=env
    )
    try:
        _wait(f"http://127.0.0.1:{source_port}", source)
        _wait(f"http://127.0.0.1:{hub_port}", proc)
        yield SignedHub(
            f"http://127.0.0.1:{hub_port}",
            ca,
            identities[OCMW_GENT],
            identities[RSZ],
            f"http://127.0.0.1:{source_port}",
            data_dir,
        )
    finally:
        for p in (proc, source):
            p.terminate()
            p.wait(timeout=20)


def _post(hub: SignedHub, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return httpx.post(f"{hub.url}{PATH}", content=body, headers=headers, timeout=30)


def _reason(answer: httpx.Response) -> str:
    return str(answer.json()["fault"][0]["reason"])


def _logged(hub: SignedHub, answer: httpx.Response) -> dict[str, object]:
    """The log entry of an answer, read as the KSZ (the hub requires every call signed)."""
    ticket = answer.json()["informationCBSS"]["ticketCBSS"]
    path = f"/audit/entries/{ticket}"
    signed = {SIGNATURE_HEADER: sign(b"", load_identity(hub.ca.folder, KSZ), method="GET", path=path)}
    entry = httpx.get(f"{hub.url}{path}", headers=signed, timeout=10).json()
    assert isinstance(entry, dict)
    return entry


def _body(cbe: str = OCMW_GENT) -> bytes:
    return orjson.dumps(envelope(cbe=cbe, ssin=PERSON))


def test_a_signed_message_passes_and_the_answer_is_signed_by_the_ksz(hub: SignedHub) -> None:
    body = _body()
    answer = _post(hub, body, sign(body, hub.gent, method="POST", path=PATH))
    assert answer.status_code == 200, answer.text
    verifier = EnvelopeVerifier(hub.ca.certificate, hub.ca.revoked)
    signer = verifier.verify(answer.headers[SIGNATURE_HEADER], answer.content, method="POST", path=PATH)
    assert signer.kbo == KSZ


def test_an_unsigned_message_is_refused_and_logged(hub: SignedHub) -> None:
    answer = _post(hub, _body(), None)
    assert answer.status_code == 401
    assert _reason(answer) == "UNSIGNED"
    entry = _logged(hub, answer)
    assert entry["outcome"] == "REFUSED"
    assert entry["requester"] == OCMW_GENT


def test_an_altered_message_is_refused(hub: SignedHub) -> None:
    body = _body()
    signature = sign(body, hub.gent, method="POST", path=PATH)
    other = make_insz(date(1975, 6, 8), 9)
    answer = _post(hub, body.replace(PERSON.encode(), other.encode()), signature)
    assert answer.status_code == 401
    assert _reason(answer) == "BAD_SIGNATURE"


def test_a_replayed_message_is_refused(hub: SignedHub) -> None:
    body = _body()
    signature = sign(body, hub.gent, method="POST", path=PATH)
    assert _post(hub, body, signature).status_code == 200
    again = _post(hub, body, signature)
    assert again.status_code == 409
    assert _reason(again) == "REPLAYED"


def test_another_institutions_identity_is_refused(hub: SignedHub) -> None:
    body = _body(cbe=OCMW_GENT)
    answer = _post(hub, body, sign(body, hub.rsz, method="POST", path=PATH))  # RSZ signs "I am OCMW Gent"
    assert answer.status_code == 403
    assert _reason(answer) == "SENDER_MISMATCH"
    assert _logged(hub, answer)["reason_code"] == answer.json()["fault"][0]["reasonCode"]


def test_expired_foreign_and_revoked_certificates_are_refused(hub: SignedHub, tmp_path: Path) -> None:
    body = _body()
    expired = hub.ca.issue(OCMW_GENT, "OCMW Gent", days=1, not_before=datetime.now(UTC) - timedelta(days=5))
    answer = _post(hub, body, sign(body, expired, method="POST", path=PATH))
    assert (answer.status_code, _reason(answer)) == (403, "UNTRUSTED_SENDER")
    assert "expired" in answer.json()["fault"][0]["diagnostic"] or "expired" in answer.text

    foreign = NetworkCA.create(tmp_path / "impostor").issue(OCMW_GENT, "OCMW Gent")
    answer = _post(hub, body, sign(body, foreign, method="POST", path=PATH))
    assert (answer.status_code, _reason(answer)) == (403, "UNTRUSTED_SENDER")

    stolen = hub.ca.issue(OCMW_GENT, "OCMW Gent")
    assert _post(hub, body, sign(body, stolen, method="POST", path=PATH)).status_code == 200
    hub.ca.revoke(stolen.serial)
    answer = _post(hub, body, sign(body, stolen, method="POST", path=PATH))
    assert (answer.status_code, _reason(answer)) == (403, "UNTRUSTED_SENDER")


def test_a_certificate_named_by_its_thumbprint_is_found_by_the_hub(hub: SignedHub) -> None:
    body = _body()
    answer = _post(hub, body, sign(body, hub.gent, method="POST", path=PATH, embed_certificate=False))
    assert answer.status_code == 200, answer.text
    unknown = hub.ca.issue(OCMW_GENT, "OCMW Gent")  # issued, but never handed to the hub
    answer = _post(hub, body, sign(body, unknown, method="POST", path=PATH, embed_certificate=False))
    assert (answer.status_code, _reason(answer)) == (403, "UNTRUSTED_SENDER")


def test_what_the_hub_forwards_is_signed_by_the_ksz(hub: SignedHub) -> None:
    body = _body()
    assert _post(hub, body, sign(body, hub.gent, method="POST", path=PATH)).status_code == 200
    forwarded = httpx.get(f"{hub.source}/last-request", timeout=10).json()
    known = {thumbprint(c.certificate): c.certificate for c in (hub.gent, hub.rsz)}
    ksz = load_identity(hub.ca.folder, KSZ)
    known[thumbprint(ksz.certificate)] = ksz.certificate
    verifier = EnvelopeVerifier(hub.ca.certificate, hub.ca.revoked, known=known.get)
    raw = base64.b64decode(forwarded["body"])
    signer = verifier.verify(forwarded["signature"], raw, method="POST", path=forwarded["path"])
    assert signer.kbo == KSZ
    assert PERSON.encode() in raw
