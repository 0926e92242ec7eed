"""Issue → verify, every refusal, the validity flag, the claims schema and ListOfAttestations."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from pydantic import ValidationError

from kruispunt.attest import (
    TOKEN_TYPE,
    AttestationError,
    KeySet,
    SigningKey,
    claims_bytes,
    issue,
    list_for_subject,
    verify,
)
from kruispunt.core.canonical import canonical_json
from tests.attest.conftest import OCMW, ONEM, OTHER_SUBJECT, SUBJECT, attestation

ON = date(2025, 6, 1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def sign_raw(key: SigningKey, payload: bytes, header: dict[str, Any] | None = None) -> str:
    """Sign arbitrary bytes with a real key (to reach the checks after the signature)."""
    header = header or {"alg": "ES256", "kid": key.kid, "typ": TOKEN_TYPE}
    return jws.serialize_compact(header, payload, key.key, algorithms=["ES256"])


def refused(token: str, keys: KeySet, code: str) -> AttestationError:
    with pytest.raises(AttestationError) as exc:
        verify(token, keys, on=ON)
    assert exc.value.code == code, exc.value.reason
    return exc.value


def flip(segment: str, index: int) -> str:
    """Change one base64url character into another that still decodes canonically."""
    c = segment[index]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    new = alphabet[alphabet.index(c) ^ 16]  # bit 4 is never an unused padding bit
    return segment[:index] + new + segment[index + 1 :]


def test_round_trip(ocmw_key: SigningKey, keys: KeySet) -> None:
    a = attestation()
    token = issue(ocmw_key, a)
    header_b64, payload_b64, _ = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header_b64 + "==")) == {
        "alg": "ES256",
        "kid": ocmw_key.kid,
        "typ": TOKEN_TYPE,
    }
    assert base64.urlsafe_b64decode(payload_b64 + "==") == canonical_json(a.model_dump(mode="json"))
    result = verify(token, keys, on=ON)
    assert result.attestation == a
    assert result.kid == ocmw_key.kid
    assert result.validity == "valid"
    assert result.in_force
    assert result.describe().startswith("signature valid;")


def test_verify_defaults_to_today(ocmw_key: SigningKey, keys: KeySet) -> None:
    token = issue(ocmw_key, attestation(valid_from=date(2000, 1, 1), valid_to=None))
    result = verify(token, keys)
    assert result.checked_on == date.today()
    assert result.in_force


def test_claims_are_normalised(ocmw_key: SigningKey, keys: KeySet) -> None:
    a = attestation(
        issuer="BE 0212.344.876",
        subject="80.05.17-033.08",
        issued_at=datetime(2025, 1, 2, 11, 30, tzinfo=timezone(timedelta(hours=2))),
    )
    assert a.issuer == OCMW
    assert a.subject == SUBJECT
    assert a.issued_at == datetime(2025, 1, 2, 9, 30, tzinfo=UTC)
    assert a.issued_at.utcoffset() == timedelta(0)
    assert verify(issue(ocmw_key, a), keys, on=ON).attestation == a


def test_flipped_payload_byte_is_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    h, p, s = issue(ocmw_key, attestation()).split(".")
    for i in (0, len(p) // 2, len(p) - 1):
        refused(f"{h}.{flip(p, i)}.{s}", keys, "bad_signature")


def test_flipped_signature_byte_is_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    h, p, s = issue(ocmw_key, attestation()).split(".")
    for i in (0, len(s) // 2, len(s) - 1):
        refused(f"{h}.{p}.{flip(s, i)}", keys, "bad_signature")


def test_tampered_claims_resigned_by_nobody_are_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    h, _, s = issue(ocmw_key, attestation()).split(".")
    forged = claims_bytes(attestation(status={"category": "family", "amount_cents": 999999}))
    refused(f"{h}.{b64(forged)}.{s}", keys, "bad_signature")


def test_swapped_kid_is_refused(
    ocmw_key: SigningKey, ocmw_key_2: SigningKey, onem_key: SigningKey, keys: KeySet
) -> None:
    _, p, s = issue(ocmw_key, attestation()).split(".")
    for other in (ocmw_key_2, onem_key):
        header = b64json({"alg": "ES256", "kid": other.kid, "typ": TOKEN_TYPE})
        refused(f"{header}.{p}.{s}", keys, "bad_signature")


def test_unknown_kid_is_refused(keys: KeySet) -> None:
    stranger = SigningKey.generate(kid=f"{OCMW}:stolen")
    error = refused(issue(stranger, attestation()), keys, "unknown_kid")
    assert "stolen" in error.reason


def test_alg_none_forgery_is_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    p = b64(claims_bytes(attestation()))
    header = b64json({"alg": "none", "kid": ocmw_key.kid, "typ": TOKEN_TYPE})
    error = refused(f"{header}.{p}.", keys, "alg_not_allowed")
    assert "'none'" in error.reason
    header = b64json({"kid": ocmw_key.kid, "typ": TOKEN_TYPE})
    refused(f"{header}.{p}.", keys, "alg_not_allowed")


def test_hs256_with_the_public_key_as_secret_is_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    """The classic confusion attack: HMAC keyed with the (public) JWK the verifier holds."""
    header = b64json({"alg": "HS256", "kid": ocmw_key.kid, "typ": TOKEN_TYPE})
    p = b64(claims_bytes(attestation()))
    secret = json.dumps(ocmw_key.public_jwk()).encode()
    mac = hmac.new(secret, f"{header}.{p}".encode(), hashlib.sha256).digest()
    refused(f"{header}.{p}.{b64(mac)}", keys, "alg_not_allowed")


def test_header_must_be_exactly_alg_kid_typ(ocmw_key: SigningKey, keys: KeySet) -> None:
    payload = claims_bytes(attestation())
    base = {"alg": "ES256", "kid": ocmw_key.kid, "typ": TOKEN_TYPE}
    jwk_header = {**base, "jwk": ocmw_key.public_jwk()}
    refused(sign_raw(ocmw_key, payload, jwk_header), keys, "bad_header")
    refused(sign_raw(ocmw_key, payload, {**base, "typ": "JWT"}), keys, "bad_header")
    refused(sign_raw(ocmw_key, payload, {"alg": "ES256", "typ": TOKEN_TYPE}), keys, "bad_header")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        ".e30.",
        "e30..",
        "!!!.e30.e30",
        "W10.e30.",
        "bm90anNvbg.e30.",
        "é.e30.e30",
    ],
)
def test_not_a_jws(token: str, keys: KeySet) -> None:
    refused(token, keys, "not_jws")


def test_non_canonical_base64_is_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    h, p, s = issue(ocmw_key, attestation()).split(".")
    refused(f"{h}.{p}.{s}=", keys, "not_jws")  # padding
    refused(f" {h}.{p}.{s}", keys, "not_jws")
    # 64-byte signature = 86 chars; the last char carries 4 unused bits: setting one must not pass
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(s[-1]) ^ 1]
    refused(f"{h}.{p}.{s[:-1]}{last}", keys, "not_jws")


def test_payload_not_matching_the_schema_is_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    claims = attestation().model_dump(mode="json")
    for bad in ({**claims, "subject": "80051703309"}, {**claims, "extra": 1}, {"id": claims["id"]}):
        error = refused(sign_raw(ocmw_key, canonical_json(bad)), keys, "bad_payload")
        assert "schema" in error.reason
    refused(sign_raw(ocmw_key, b"not json"), keys, "bad_payload")


def test_non_canonical_payload_is_refused(ocmw_key: SigningKey, keys: KeySet) -> None:
    claims = attestation().model_dump(mode="json")
    error = refused(sign_raw(ocmw_key, json.dumps(claims, indent=1).encode()), keys, "bad_payload")
    assert "canonical" in error.reason


def test_issuer_mismatch(ocmw_key: SigningKey, onem_key: SigningKey, keys: KeySet) -> None:
    with pytest.raises(AttestationError) as exc:
        issue(onem_key, attestation())  # OCMW's claim, ONEM's key
    assert exc.value.code == "issuer_mismatch"
    forged = sign_raw(onem_key, claims_bytes(attestation()))  # signed anyway, bypassing issue()
    error = refused(forged, keys, "issuer_mismatch")
    assert OCMW in error.reason
    assert ONEM in error.reason


def test_expired_is_a_flag_not_an_error(ocmw_key: SigningKey, keys: KeySet) -> None:
    token = issue(ocmw_key, attestation())
    expired = verify(token, keys, on=date(2026, 1, 1))
    assert expired.validity == "expired"
    assert not expired.in_force
    assert expired.describe().startswith("signature valid but expired")
    early = verify(token, keys, on=date(2024, 12, 31))
    assert early.validity == "not_yet_valid"
    assert "not yet valid" in early.describe()
    assert verify(token, keys, on=date(2025, 12, 31)).in_force  # bounds are inclusive
    assert verify(token, keys, on=date(2025, 1, 1)).in_force
    open_ended = issue(ocmw_key, attestation(valid_to=None))
    assert verify(open_ended, keys, on=date(2099, 1, 1)).in_force


@pytest.mark.parametrize(
    "changes",
    [
        {"valid_to": date(2024, 12, 31)},
        {"issuer": "0212344877"},
        {"issuer": "2123456781"},
        {"subject": "80051703309"},
        {"type": ""},
        {"type": "Leefloon"},
        {"type": "leef loon"},
        {"legal_basis": ""},
        {"legal_basis": "   "},
        {"issued_at": datetime(2025, 1, 2, 9, 30)},  # naive
        {"status": {"amount": 1309.45}},
        {"status": {"items": [{"x": 0.5}]}},
        {"id": "not-a-uuid"},
        {"extra": "field"},
    ],
)
def test_schema_refusals(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        attestation(**changes)


@pytest.mark.parametrize("kind", ["leefloon", "unemployment", "pension_igo", "child-benefit-2"])
def test_schema_type_slugs(kind: str) -> None:
    assert attestation(type=kind).type == kind


def test_list_for_subject(ocmw_key: SigningKey, onem_key: SigningKey, keys: KeySet) -> None:
    leefloon = issue(ocmw_key, attestation())
    old = issue(
        onem_key,
        attestation(
            id=uuid.uuid4(),
            issuer=ONEM,
            type="unemployment",
            valid_from=date(2023, 1, 1),
            valid_to=date(2023, 6, 30),
        ),
    )
    other = issue(ocmw_key, attestation(id=uuid.uuid4(), subject=OTHER_SUBJECT))
    found = list_for_subject([leefloon, other, old], "80.05.17-033.08", keys, on=ON)
    assert [v.attestation.type for v in found] == ["unemployment", "leefloon"]
    current = list_for_subject([leefloon, other, old], SUBJECT, keys, on=ON, in_force_only=True)
    assert [v.attestation.type for v in current] == ["leefloon"]
    with pytest.raises(AttestationError):
        list_for_subject([leefloon, leefloon[:-2] + "AA"], SUBJECT, keys, on=ON)
    with pytest.raises(AttestationError, match="INSZ"):
        list_for_subject([leefloon], "123", keys, on=ON)


@pytest.fixture(scope="module")
def token_and_keys() -> tuple[str, KeySet]:
    key = SigningKey.generate(kid=f"{OCMW}:fuzz")
    return issue(key, attestation()), KeySet.of([key])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_character_change_is_refused(
    token_and_keys: tuple[str, KeySet], data: st.DataObject
) -> None:
    token, keys = token_and_keys
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    replacement = data.draw(
        st.one_of(
            st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n"),
            st.characters(codec="utf-8"),
        ).filter(lambda c: c != token[index]),
        label="replacement",
    )
    changed = token[:index] + replacement + token[index + 1 :]
    with pytest.raises(AttestationError):
        verify(changed, keys, on=ON)
