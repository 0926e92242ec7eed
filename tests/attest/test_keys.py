"""Signing keys on disk, the published JWKS and what KeySet.from_jwks refuses."""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from kruispunt.attest import (
    AttestationError,
    KeySet,
    SigningKey,
    load_or_create_signing_key,
    make_kid,
    public_jwks,
)
from kruispunt.attest.keys import issuer_of_kid
from tests.attest.conftest import OCMW, ONEM


def test_load_or_create_writes_0600_and_reloads_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ocmw.jwk"
    kid = make_kid(OCMW, "2025-1")
    created = load_or_create_signing_key(path, kid=kid)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["d"]  # the private key is what is stored
    loaded = load_or_create_signing_key(path, kid=kid)
    assert loaded.public_jwk() == created.public_jwk()
    assert loaded.issuer == OCMW


def test_stored_key_with_another_kid_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.jwk"
    load_or_create_signing_key(path, kid=make_kid(OCMW, "a"))
    with pytest.raises(AttestationError, match="expected") as exc:
        load_or_create_signing_key(path, kid=make_kid(OCMW, "b"))
    assert exc.value.code == "bad_key"


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.jwk"
    load_or_create_signing_key(path, kid=make_kid(OCMW, "a"))
    path.chmod(0o644)
    with pytest.raises(AttestationError, match="chmod 600"):
        load_or_create_signing_key(path, kid=make_kid(OCMW, "a"))


def test_key_file_that_is_not_a_jwk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.jwk"
    path.write_text("not json")
    path.chmod(0o600)
    with pytest.raises(AttestationError, match="not an EC JWK"):
        load_or_create_signing_key(path, kid=make_kid(OCMW, "a"))


@pytest.mark.parametrize(
    ("issuer", "suffix"), [("0212344877", "k1"), ("2123456789", "k1"), (OCMW, ""), (OCMW, "a:b"), (OCMW, "é")]
)
def test_make_kid_validates_kbo_and_suffix(issuer: str, suffix: str) -> None:
    with pytest.raises(AttestationError):
        make_kid(issuer, suffix)


def test_make_kid_normalises_the_kbo() -> None:
    assert make_kid("BE 0212.344.876", "k1") == f"{OCMW}:k1"
    assert issuer_of_kid(f"{OCMW}:k1") == OCMW


def test_public_jwks_has_public_parts_only(ocmw_key: SigningKey, onem_key: SigningKey) -> None:
    doc = public_jwks([onem_key, ocmw_key])
    assert [k["kid"] for k in doc["keys"]] == sorted([ocmw_key.kid, onem_key.kid])
    for jwk in doc["keys"]:
        assert "d" not in jwk
        assert jwk["alg"] == "ES256"
        assert jwk["use"] == "sig"
        assert jwk["kty"] == "EC"
        assert jwk["crv"] == "P-256"
    keyset = KeySet.from_jwks(json.loads(json.dumps(doc)))
    assert set(keyset) == {ocmw_key.kid, onem_key.kid}
    assert len(keyset) == 2


def _jwks(key: SigningKey, **changes: Any) -> dict[str, Any]:
    jwk = key.public_jwk()
    for name, value in changes.items():
        if value is None:
            jwk.pop(name, None)
        else:
            jwk[name] = value
    return {"keys": [jwk]}


def test_jwks_with_a_private_key_is_refused(ocmw_key: SigningKey) -> None:
    doc = {"keys": [dict(ocmw_key.key.as_dict(private=True), kid=ocmw_key.kid, alg="ES256", use="sig")]}
    with pytest.raises(AttestationError, match="private key material") as exc:
        KeySet.from_jwks(doc)
    assert exc.value.code == "bad_jwks"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"alg": "HS256"}, "only ES256"),
        ({"alg": "none"}, "only ES256"),
        ({"alg": None}, "only ES256"),
        ({"crv": "P-384"}, "not an EC P-256"),
        ({"kty": "oct"}, "not an EC P-256"),
        ({"use": "enc"}, "not 'sig'"),
        ({"kid": None}, "no kid"),
        ({"kid": "ocmw-key"}, "10-digit KBO"),
        ({"x": "AAAA"}, "not a valid EC key"),
    ],
)
def test_jwks_refusals(ocmw_key: SigningKey, changes: dict[str, Any], match: str) -> None:
    with pytest.raises(AttestationError, match=match):
        KeySet.from_jwks(_jwks(ocmw_key, **changes))


def test_jwks_with_duplicate_kids_is_refused(ocmw_key: SigningKey, onem_key: SigningKey) -> None:
    doc = public_jwks([ocmw_key])
    twin = copy.deepcopy(onem_key.public_jwk())
    twin["kid"] = ocmw_key.kid
    doc["keys"].append(twin)
    with pytest.raises(AttestationError, match="appears twice"):
        KeySet.from_jwks(doc)
    with pytest.raises(AttestationError, match="duplicate kid"):
        public_jwks([ocmw_key, ocmw_key])


@pytest.mark.parametrize("doc", [[], {"keys": {}}, {"keys": ["x"]}, "jwks", None])
def test_malformed_jwks_is_refused(doc: Any) -> None:
    with pytest.raises(AttestationError):
        KeySet.from_jwks(doc)


def test_signing_key_repr_hides_the_key(ocmw_key: SigningKey) -> None:
    assert "ECKey" not in repr(ocmw_key)
    assert ONEM not in repr(ocmw_key)
