"""Signed envelopes: a message signed by an institution verifies to its KBO; unsigned, altered, replayed,
stale, re-routed, expired, revoked or foreign-CA messages are refused with their reason."""

from __future__ import annotations

import base64
import functools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.trust.ca import NetworkCA, TrustError
from kruispunt.trust.envelopes import EnvelopeVerifier, sign, thumbprint

OCMW_GENT = "0212140186"
BODY = b'{"header":{"requester":"0212140186"},"request":{"ssin":"85073003328"}}'
ROUTE = {"method": "POST", "path": "/hub/messages"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> NetworkCA:
    return NetworkCA.create(tmp_path_factory.mktemp("trust") / "ca")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(ca: NetworkCA, clock: Clock) -> EnvelopeVerifier:
    return EnvelopeVerifier(ca.certificate, ca.revoked, clock=clock)


def _code(verifier: EnvelopeVerifier, signature: str | None, body: bytes = BODY, **route: str) -> str:
    with pytest.raises(TrustError) as refused:
        verifier.verify(signature, body, **{**ROUTE, **route})
    return refused.value.code


def test_a_signed_message_verifies_to_its_sender(
    ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock
) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    signature = sign(BODY, identity, now=clock.now, **ROUTE)
    verified = verifier.verify(signature, BODY, **ROUTE)
    assert (verified.kbo, verified.serial) == (OCMW_GENT, identity.serial)


def test_unsigned_altered_or_garbled_messages_are_refused(
    ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock
) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    signature = sign(BODY, identity, now=clock.now, **ROUTE)
    assert _code(verifier, None) == "unsigned"
    assert _code(verifier, "") == "unsigned"
    assert _code(verifier, signature, BODY.replace(b"85073003328", b"85073003329")) == "bad_signature"
    for garbage in ("a.b.c", "x", "..", "a..b", signature.replace("..", ".x."), "é..é", "a" * 20_000):
        assert _code(verifier, garbage) == "bad_signature"
    head, _, sig = signature.partition("..")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    assert _code(verifier, f"{head}..{flipped}") == "bad_signature"


def test_a_header_changed_after_signing_is_refused(
    ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock
) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    signature = sign(BODY, identity, now=clock.now, **ROUTE)
    head, _, sig = signature.partition("..")
    header = orjson.loads(base64.urlsafe_b64decode(head + "=="))
    header["htu"] = "/hub/batches"
    forged = base64.urlsafe_b64encode(orjson.dumps(header)).rstrip(b"=").decode()
    assert _code(verifier, f"{forged}..{sig}", path="/hub/batches") == "bad_signature"
    header["alg"] = "none"
    forged = base64.urlsafe_b64encode(orjson.dumps(header)).rstrip(b"=").decode()
    assert _code(verifier, f"{forged}..{sig}") == "bad_signature"


def test_a_replay_is_refused_even_once_signed_correctly(
    ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock
) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    signature = sign(BODY, identity, now=clock.now, **ROUTE)
    verifier.verify(signature, BODY, **ROUTE)
    assert _code(verifier, signature) == "replayed"
    again = sign(BODY, identity, now=clock.now, **ROUTE)  # a fresh jti: a new message
    assert verifier.verify(again, BODY, **ROUTE).kbo == OCMW_GENT


def test_stale_and_rerouted_messages_are_refused(
    ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock
) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    old = sign(BODY, identity, now=clock.now - 301, **ROUTE)
    assert _code(verifier, old) == "stale"
    future = sign(BODY, identity, now=clock.now + 301, **ROUTE)
    assert _code(verifier, future) == "stale"
    elsewhere = sign(BODY, identity, now=clock.now, method="POST", path="/hub/batches")
    assert _code(verifier, elsewhere) == "wrong_route"


def test_expired_revoked_and_foreign_certificates_are_refused(
    ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock, tmp_path: Path
) -> None:
    expired = ca.issue(OCMW_GENT, "OCMW Gent", days=1, not_before=datetime.now(UTC) - timedelta(days=3))
    assert _code(verifier, sign(BODY, expired, now=clock.now, **ROUTE)) == "expired"
    stolen = ca.issue(OCMW_GENT, "OCMW Gent")
    ca.revoke(stolen.serial)
    assert _code(verifier, sign(BODY, stolen, now=clock.now, **ROUTE)) == "revoked"
    impostor = NetworkCA.create(tmp_path / "impostor").issue(OCMW_GENT, "OCMW Gent")
    assert _code(verifier, sign(BODY, impostor, now=clock.now, **ROUTE)) == "untrusted"


@given(st.binary(max_size=300), st.text(max_size=300))
def test_no_input_makes_the_verifier_fail_otherwise_than_with_a_reason(body: bytes, signature: str) -> None:
    ca = _shared_ca()
    verifier = EnvelopeVerifier(ca.certificate, ca.revoked)
    with pytest.raises(TrustError):
        verifier.verify(signature, body, **ROUTE)


@functools.cache
def _shared_ca() -> NetworkCA:
    """One CA for every hypothesis example (function-scoped fixtures do not mix with @given)."""
    return NetworkCA.create(Path(tempfile.mkdtemp()) / "ca")


def test_a_certificate_named_by_thumbprint_is_found_among_the_known_ones(ca: NetworkCA, clock: Clock) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    known = {thumbprint(identity.certificate): identity.certificate}
    verifier = EnvelopeVerifier(ca.certificate, ca.revoked, clock=clock, known=known.get)
    short = sign(BODY, identity, now=clock.now, embed_certificate=False, **ROUTE)
    assert len(short) < len(sign(BODY, identity, now=clock.now, **ROUTE)) - 500
    assert verifier.verify(short, BODY, **ROUTE).kbo == OCMW_GENT
    stranger = ca.issue(OCMW_GENT, "OCMW Gent")  # valid, but the verifier does not hold it
    assert (
        _code(verifier, sign(BODY, stranger, now=clock.now, embed_certificate=False, **ROUTE)) == "untrusted"
    )
    ca.revoke(identity.serial)
    assert _code(verifier, sign(BODY, identity, now=clock.now, embed_certificate=False, **ROUTE)) == "revoked"


def test_the_signature_covers_the_bodys_digest_and_checks_offline_from_it(
    ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock
) -> None:
    from kruispunt.trust.envelopes import body_digest, verify_digest

    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    signature = sign(BODY, identity, now=clock.now, claims={"tkt": "t-1"}, **ROUTE)
    verified = verifier.verify(signature, BODY, **ROUTE)
    assert verified.digest == body_digest(BODY).hex()
    checked = verify_digest(signature, body_digest(BODY), ca.certificate)  # no body, no clock, no replay
    assert checked.kbo == OCMW_GENT
    assert checked.header["tkt"] == "t-1"
    with pytest.raises(TrustError) as refused:
        verify_digest(signature, body_digest(BODY + b" "), ca.certificate)
    assert refused.value.code == "bad_signature"
    other = NetworkCA.create(Path(tempfile.mkdtemp()) / "other")
    with pytest.raises(TrustError):
        verify_digest(signature, body_digest(BODY), other.certificate)


def test_a_subject_is_signed_and_returned(ca: NetworkCA, verifier: EnvelopeVerifier, clock: Clock) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    signature = sign(BODY, identity, now=clock.now, subject="researcher-7", **ROUTE)
    assert verifier.verify(signature, BODY, **ROUTE).subject == "researcher-7"
    unsigned_subject = sign(BODY, identity, now=clock.now, **ROUTE)
    assert verifier.verify(unsigned_subject, BODY, **ROUTE).subject is None
