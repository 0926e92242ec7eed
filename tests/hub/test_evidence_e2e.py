"""Non-repudiation on a real hub that requires signed envelopes: after an exchange, ``kruispunt audit
show TICKET`` writes an evidence file that ``kruispunt audit verify-evidence`` checks offline (no database,
no hub), and that fails when any one byte of it changes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from kruispunt.trust.envelopes import sign
from tests.hub.test_signed_messages import PATH, SignedHub, _body, _post, hub  # noqa: F401

pytestmark = pytest.mark.timeout(180)


def _cli(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return subprocess.run(
        [sys.executable, "-m", "kruispunt", "audit", *args, *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _evidence_of(hub: SignedHub, tmp_path: Path) -> tuple[str, Path]:  # noqa: F811
    body = _body()
    answer = _post(hub, body, sign(body, hub.gent, method="POST", path=PATH))
    assert answer.status_code == 200, answer.text
    ticket = answer.json()["informationCBSS"]["ticketCBSS"]
    out = tmp_path / "evidence.json"
    for _ in range(50):  # the evidence row is stored with the writer's next batch
        assert _cli("checkpoint", data_dir=hub.data_dir).returncode == 0
        shown = _cli("show", ticket, "--out", str(out), data_dir=hub.data_dir)
        if shown.returncode == 0:
            return ticket, out
        time.sleep(0.1)
    raise AssertionError(shown.stderr)


def test_an_evidence_file_verifies_offline_with_the_pinned_ca(hub: SignedHub, tmp_path: Path) -> None:  # noqa: F811
    ticket, out = _evidence_of(hub, tmp_path)
    checked = _cli("verify-evidence", str(out), "--ca", str(hub.data_dir / "trust" / "ca.cert.pem"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ticket in checked.stdout
    assert hub.gent.kbo in checked.stdout
    doc = orjson.loads(out.read_bytes())
    assert doc["request"]["digest"]
    assert doc["reply"]["digest"]


def test_an_evidence_file_fails_when_one_byte_changes(hub: SignedHub, tmp_path: Path) -> None:  # noqa: F811
    _, out = _evidence_of(hub, tmp_path)
    raw = out.read_bytes()
    # one byte in each part: entry field, proof, checkpoint, request signature and digest, reply signature
    doc = orjson.loads(raw)
    targets = [
        doc["entry"]["person_insz"],
        doc["entry"]["entry_hash"],
        doc["request"]["digest"],
        doc["request"]["signature"].split("..")[1],
        doc["reply"]["digest"],
        doc["reply"]["signature"].split("..")[1],
        doc["checkpoint"].split(".")[2],
        doc["checkpoint"].split(".")[1],
    ]
    if doc["inclusion"]["path"]:
        targets.append(doc["inclusion"]["path"][0])
    for k, target in enumerate(targets):
        at = raw.index(target.encode()) + len(target) // 2
        flipped = b"0" if raw[at : at + 1] != b"0" else b"1"
        tampered = tmp_path / f"tampered-{k}.json"
        tampered.write_bytes(raw[:at] + flipped + raw[at + 1 :])
        checked = _cli("verify-evidence", str(tampered))
        assert checked.returncode == 1, (k, target, checked.stdout)
        assert "does NOT verify" in checked.stdout


def test_evidence_against_another_ca_fails(hub: SignedHub, tmp_path: Path) -> None:  # noqa: F811
    from kruispunt.trust.ca import NetworkCA

    _, out = _evidence_of(hub, tmp_path)
    other = NetworkCA.create(tmp_path / "other-trust")
    checked = _cli("verify-evidence", str(out), "--ca", str(other.folder / "ca.cert.pem"))
    assert checked.returncode == 1


def test_an_unknown_ticket_has_no_evidence(hub: SignedHub) -> None:  # noqa: F811
    shown = _cli("show", "00000000-0000-4000-8000-000000000000", data_dir=hub.data_dir)
    assert shown.returncode == 1
    assert "no exchange" in shown.stderr
