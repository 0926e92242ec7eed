"""``verify FILE --keys JWKS [--on DATE] [--json]``: exit 0 valid, 1 refused, 2 unreadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kruispunt.attest import SigningKey, issue, public_jwks
from kruispunt.attest.cli import app
from tests.attest.conftest import attestation

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path, ocmw_key: SigningKey, onem_key: SigningKey) -> tuple[Path, Path]:
    token = tmp_path / "leefloon.jws"
    token.write_text(issue(ocmw_key, attestation()) + "\n")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(public_jwks([ocmw_key, onem_key])))
    return token, jwks


def run(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", *map(str, args)])
    return result.exit_code, result.output


def test_valid(files: tuple[Path, Path]) -> None:
    token, jwks = files
    code, out = run(token, "--keys", jwks, "--on", "2025-06-01")
    assert code == 0, out
    assert out.startswith("VALID: signature valid")
    assert "leefloon" in out


def test_valid_json(files: tuple[Path, Path]) -> None:
    token, jwks = files
    code, out = run(token, "--keys", jwks, "--on", "2025-06-01", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["valid"] is True
    assert doc["signature_valid"] is True
    assert doc["validity"] == "valid"
    assert doc["attestation"]["type"] == "leefloon"


def test_expired_says_signature_valid_but_expired(files: tuple[Path, Path]) -> None:
    token, jwks = files
    code, out = run(token, "--keys", jwks, "--on", "2026-02-01")
    assert code == 1
    assert "signature valid but expired" in out
    code, out = run(token, "--keys", jwks, "--on", "2026-02-01", "--json")
    doc = json.loads(out)
    assert (code, doc["valid"], doc["signature_valid"], doc["code"]) == (1, False, True, "expired")


def test_tampered_token_prints_the_reason(files: tuple[Path, Path]) -> None:
    token, jwks = files
    h, p, s = token.read_text().strip().split(".")
    token.write_text(f"{h}.{p}.{s[:10]}{'A' if s[10] != 'A' else 'B'}{s[11:]}")
    code, out = run(token, "--keys", jwks)
    assert code == 1
    assert out.startswith("INVALID: bad signature")
    code, out = run(token, "--keys", jwks, "--json")
    assert (code, json.loads(out)["code"]) == (1, "bad_signature")


def test_unknown_kid(files: tuple[Path, Path], tmp_path: Path, onem_key: SigningKey) -> None:
    token, _ = files
    only_onem = tmp_path / "onem.json"
    only_onem.write_text(json.dumps(public_jwks([onem_key])))
    code, out = run(token, "--keys", only_onem)
    assert code == 1
    assert "unknown kid" in out


def test_missing_files_exit_2(files: tuple[Path, Path], tmp_path: Path) -> None:
    token, jwks = files
    assert run(tmp_path / "nope.jws", "--keys", jwks)[0] == 2
    assert run(token, "--keys", tmp_path / "nope.json")[0] == 2
    code, out = run(tmp_path / "nope.jws", "--keys", jwks, "--json")
    assert (code, json.loads(out)["code"]) == (2, "unreadable")


def test_unusable_key_set_exit_2(files: tuple[Path, Path], tmp_path: Path, ocmw_key: SigningKey) -> None:
    token, jwks = files
    jwks.write_text("{not json")
    assert run(token, "--keys", jwks)[0] == 2
    jwks.write_text(json.dumps({"keys": [ocmw_key.key.as_dict(private=True)]}))
    code, out = run(token, "--keys", jwks)
    assert code == 2
    assert "private key material" in out


def test_binary_token_file_and_bad_date_exit_2(files: tuple[Path, Path]) -> None:
    token, jwks = files
    assert run(token, "--keys", jwks, "--on", "01/06/2025")[0] == 2
    token.write_bytes(b"\xff\xfe\x00")
    assert run(token, "--keys", jwks)[0] == 2


def test_garbage_token_exit_1(files: tuple[Path, Path]) -> None:
    token, jwks = files
    token.write_text("hello world")
    code, out = run(token, "--keys", jwks)
    assert code == 1
    assert "not a JWS" in out
