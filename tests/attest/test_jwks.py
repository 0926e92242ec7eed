"""The network's published keys: collected from ``<data_dir>/keys``, checked, saved by ``attest keys``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from kruispunt.attest import AttestationError, KeySet, SigningKey, issue, public_jwks
from kruispunt.attest.cli import app
from kruispunt.attest.jwks import collect_jwks, key_file, scan_keys
from tests.attest.conftest import OCMW, ONEM, attestation

runner = CliRunner()


def publish(folder: Path, key: SigningKey, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name if name else key_file(folder, key.issuer)
    path.write_text(json.dumps(key.public_jwk()))
    return path


@pytest.fixture
def folder(tmp_path: Path, ocmw_key: SigningKey, onem_key: SigningKey) -> Path:
    keys = tmp_path / "keys"
    publish(keys, ocmw_key)
    publish(keys, onem_key)
    (keys / "README.txt").write_text("not a key file: ignored")
    return keys


def test_collects_every_public_key(folder: Path, ocmw_key: SigningKey, onem_key: SigningKey) -> None:
    jwks = collect_jwks(folder)
    assert jwks == public_jwks([ocmw_key, onem_key])
    assert set(KeySet.from_jwks(jwks)) == {ocmw_key.kid, onem_key.kid}
    scan = scan_keys(folder)
    assert (scan.files, scan.problems, scan.kids) == (2, (), sorted([ocmw_key.kid, onem_key.kid]))


def test_a_file_may_hold_a_key_set_during_a_rollover(
    tmp_path: Path, ocmw_key: SigningKey, ocmw_key_2: SigningKey
) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    key_file(folder, OCMW).write_text(json.dumps(public_jwks([ocmw_key, ocmw_key_2])))
    assert collect_jwks(folder) == public_jwks([ocmw_key, ocmw_key_2])


def test_a_malformed_file_is_reported_not_skipped(folder: Path, ocmw_key: SigningKey) -> None:
    (folder / "0206731645.jwk.json").write_text("{not json")
    (folder / "0212344876-old.jwk.json").write_text(json.dumps({"hello": "world"}))
    scan = scan_keys(folder)
    assert len(scan.problems) == 2
    assert any(p.startswith("0206731645.jwk.json: is not JSON") for p in scan.problems)
    assert any("neither a JWK" in p for p in scan.problems)
    assert ocmw_key.kid in scan.kids  # the good keys are still there for the hub to publish
    with pytest.raises(AttestationError, match=r"2 bad key file\(s\)") as caught:
        collect_jwks(folder)
    assert caught.value.code == "bad_jwks"
    assert "0206731645.jwk.json" in caught.value.reason


def test_a_private_key_file_is_refused(tmp_path: Path, ocmw_key: SigningKey, onem_key: SigningKey) -> None:
    folder = tmp_path / "keys"
    publish(folder, onem_key)
    private = dict(ocmw_key.key.as_dict(private=True), kid=ocmw_key.kid, alg="ES256", use="sig")
    key_file(folder, OCMW).write_text(json.dumps(private))
    scan = scan_keys(folder)
    assert scan.kids == [onem_key.kid]  # never published
    assert len(scan.problems) == 1
    assert "private key material" in scan.problems[0]
    assert set(scan.jwks["keys"][0]) == {"kty", "crv", "x", "y", "kid", "alg", "use"}  # public members only
    with pytest.raises(AttestationError, match="private key material"):
        collect_jwks(folder)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"alg": "RS256"}, "only ES256"),
        ({"crv": "P-384"}, "not an EC P-256 key"),
        ({"kid": "not-a-kid"}, "is not '<10-digit KBO>:<suffix>'"),
        ({"use": "enc"}, "not 'sig'"),
    ],
)
def test_keys_the_verifier_would_refuse_are_reported(
    tmp_path: Path, ocmw_key: SigningKey, change: dict[str, Any], reason: str
) -> None:
    folder = tmp_path / "keys"
    key_file(folder, OCMW).parent.mkdir(parents=True)
    key_file(folder, OCMW).write_text(json.dumps({**ocmw_key.public_jwk(), **change}))
    scan = scan_keys(folder)
    assert scan.kids == []
    assert reason in scan.problems[0]


def test_a_key_must_belong_to_the_institution_the_file_is_named_after(
    tmp_path: Path, ocmw_key: SigningKey
) -> None:
    folder = tmp_path / "keys"
    publish(folder, ocmw_key, name=f"{ONEM}.jwk.json")
    scan = scan_keys(folder)
    assert scan.kids == []
    assert f"belongs to KBO {OCMW}, not to {ONEM}" in scan.problems[0]


def test_one_kid_with_two_different_keys_is_refused(tmp_path: Path, ocmw_key: SigningKey) -> None:
    folder = tmp_path / "keys"
    publish(folder, ocmw_key)
    twin = SigningKey.generate(kid=ocmw_key.kid)  # same kid, other key
    publish(folder, twin, name="copy.jwk.json")
    publish(folder, ocmw_key, name="same.jwk.json")  # the same key twice is harmless
    scan = scan_keys(folder)
    assert scan.kids == []
    assert len(scan.problems) == 1
    assert "different key material" in scan.problems[0]


def test_a_missing_folder(tmp_path: Path) -> None:
    scan = scan_keys(tmp_path / "nowhere")
    assert (scan.folder_exists, scan.jwks) == (False, {"keys": []})
    with pytest.raises(AttestationError, match="does not exist"):
        collect_jwks(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------------------------
# kruispunt attest keys


def test_cli_offline_then_verify(folder: Path, tmp_path: Path, ocmw_key: SigningKey) -> None:
    out = tmp_path / "published" / "jwks.json"
    result = runner.invoke(app, ["keys", "--dir", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 key(s)" in result.output
    assert KeySet.from_jwks(json.loads(out.read_text())) is not None
    token = tmp_path / "leefloon.jws"
    token.write_text(issue(ocmw_key, attestation()))
    verified = runner.invoke(app, ["verify", str(token), "--keys", str(out), "--on", "2025-06-01"])
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("VALID")


def test_cli_offline_to_stdout(folder: Path) -> None:
    result = runner.invoke(app, ["keys", "--dir", str(folder)])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert len(doc["keys"]) == 2


def test_cli_offline_refuses_a_bad_folder(folder: Path, tmp_path: Path) -> None:
    (folder / "0206731645.jwk.json").write_text("{not json")
    out = tmp_path / "jwks.json"
    result = runner.invoke(app, ["keys", "--dir", str(folder), "--out", str(out)])
    assert result.exit_code == 1
    assert "0206731645.jwk.json: is not JSON" in result.output
    assert not out.exists()
    missing = runner.invoke(app, ["keys", "--dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2


@pytest.mark.parametrize("args", [[], ["--dir", "x", "--hub", "http://h"]])
def test_cli_needs_exactly_one_source(args: list[str]) -> None:
    result = runner.invoke(app, ["keys", *args])
    assert result.exit_code == 2
    assert "exactly one of --hub URL and --dir DIR" in result.output


class _FakeHub:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.urls: list[str] = []

    def __call__(self, url: str, **_: Any) -> httpx.Response:
        self.urls.append(url)
        content = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        return httpx.Response(self.status, content=content, request=httpx.Request("GET", url))


def test_cli_downloads_from_the_hub(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ocmw_key: SigningKey, onem_key: SigningKey
) -> None:
    fake = _FakeHub(200, public_jwks([ocmw_key, onem_key]))
    monkeypatch.setattr(httpx, "get", fake)
    out = tmp_path / "jwks.json"
    result = runner.invoke(app, ["keys", "--hub", "http://hub.example:8000/", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert fake.urls == ["http://hub.example:8000/hub/keys"]
    assert json.loads(out.read_text()) == public_jwks([ocmw_key, onem_key])


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, {"error": {}}, "answered HTTP 503"),
        (200, b"<html>", "did not answer JSON"),
        (200, {"keys": [{"kid": "x"}]}, "refused"),
    ],
)
def test_cli_refuses_a_bad_hub_answer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, status: int, body: Any, message: str
) -> None:
    monkeypatch.setattr(httpx, "get", _FakeHub(status, body))
    out = tmp_path / "jwks.json"
    result = runner.invoke(app, ["keys", "--hub", "http://hub.example/hub/keys", "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_cli_reports_an_unreachable_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, **_: Any) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr(httpx, "get", refuse)
    result = runner.invoke(app, ["keys", "--hub", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot fetch http://127.0.0.1:9/hub/keys" in result.output
