"""The network CA: an institution's certificate proves its KBO; a certificate of another CA, expired, not
yet valid, revoked, or a CA certificate, is refused with its reason; keys are private files."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kruispunt.trust.ca import NetworkCA, TrustError, kbo_of, verify_certificate

OCMW_GENT = "0212140186"
RSZ = "0206731645"


@pytest.fixture
def ca(tmp_path: Path) -> NetworkCA:
    return NetworkCA.create(tmp_path / "trust")


def test_an_issued_certificate_proves_the_institution(ca: NetworkCA) -> None:
    identity = ca.issue(OCMW_GENT, "OCMW Gent")
    assert kbo_of(identity.certificate) == OCMW_GENT
    assert verify_certificate(identity.certificate, ca.certificate, ca.revoked()) == OCMW_GENT
    ca.save(identity)
    again = NetworkCA.load(ca.folder).identity(OCMW_GENT)
    assert again.certificate == identity.certificate
    assert again.key.private_numbers() == identity.key.private_numbers()
    assert os.stat(ca.folder / "institutions" / f"{OCMW_GENT}.key.pem").st_mode & 0o077 == 0
    assert os.stat(ca.folder / "ca.key.pem").st_mode & 0o077 == 0


def test_another_cas_certificate_is_untrusted(ca: NetworkCA, tmp_path: Path) -> None:
    impostor = NetworkCA.create(tmp_path / "impostor", name="kruispunt development network CA")
    forged = impostor.issue(RSZ, "RSZ")
    with pytest.raises(TrustError) as refused:
        verify_certificate(forged.certificate, ca.certificate, ca.revoked())
    assert refused.value.code == "untrusted"


def test_validity_period_is_enforced(ca: NetworkCA) -> None:
    old = ca.issue(RSZ, "RSZ", days=30, not_before=datetime.now(UTC) - timedelta(days=60))
    with pytest.raises(TrustError) as refused:
        verify_certificate(old.certificate, ca.certificate, ca.revoked())
    assert refused.value.code == "expired"
    future = ca.issue(RSZ, "RSZ", not_before=datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(TrustError) as refused:
        verify_certificate(future.certificate, ca.certificate, ca.revoked())
    assert refused.value.code == "not_yet_valid"


def test_a_revoked_certificate_is_refused_and_others_still_pass(ca: NetworkCA) -> None:
    stolen = ca.issue(OCMW_GENT, "OCMW Gent")
    other = ca.issue(RSZ, "RSZ")
    ca.revoke(stolen.serial)
    crl = NetworkCA.load(ca.folder).revoked()
    with pytest.raises(TrustError) as refused:
        verify_certificate(stolen.certificate, ca.certificate, crl)
    assert refused.value.code == "revoked"
    assert verify_certificate(other.certificate, ca.certificate, crl) == RSZ


def test_a_revocation_list_of_another_ca_is_not_believed(ca: NetworkCA, tmp_path: Path) -> None:
    identity = ca.issue(RSZ, "RSZ")
    impostor = NetworkCA.create(tmp_path / "impostor")
    with pytest.raises(TrustError) as refused:
        verify_certificate(identity.certificate, ca.certificate, impostor.revoked())
    assert refused.value.code == "untrusted"


def test_the_ca_certificate_is_no_institution(ca: NetworkCA) -> None:
    with pytest.raises(TrustError) as refused:
        verify_certificate(ca.certificate, ca.certificate, ca.revoked())
    assert refused.value.code == "not_an_institution"


def test_a_ca_is_never_silently_replaced_and_bad_keys_are_refused(ca: NetworkCA) -> None:
    with pytest.raises(TrustError) as refused:
        NetworkCA.create(ca.folder)
    assert refused.value.code == "exists"
    os.chmod(ca.folder / "ca.key.pem", 0o644)
    with pytest.raises(TrustError) as refused:
        NetworkCA.load(ca.folder)
    assert refused.value.code == "bad_key"
    with pytest.raises(TrustError) as refused:
        NetworkCA.load(ca.folder / "nowhere")
    assert refused.value.code == "no_ca"


def test_an_invalid_kbo_is_not_issued(ca: NetworkCA) -> None:
    with pytest.raises(ValueError, match="check"):
        ca.issue("0212140187", "wrong check digits")


def test_a_subject_without_kbo_is_refused(ca: NetworkCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    bare = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no KBO")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    with pytest.raises(TrustError) as refused:
        verify_certificate(bare, ca.certificate, ca.revoked())
    assert refused.value.code == "bad_subject"
