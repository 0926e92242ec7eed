"""The network's certificate authority: one certificate per institution, revocation, verification.

Why certificates on top of the JWKS the hub already publishes: an institution's identity must be provable
to the hub (and by the hub to the institutions) on every message, with a validity period and the
possibility to withdraw it at once (a stolen key, an institution leaving the network). X.509 gives all
three, is what a real deployment's PKI (or the federal government's) issues, and serves mutual TLS as well
as message signatures: the institution's EC P-256 key signs its envelopes (ES256).

Who is named how: the subject carries the institution's name (CN) and its enterprise number as an ETSI
EN 319 412-1 ``organizationIdentifier`` ``NTRBE-<KBO>`` (national trade register, Belgium), so the KBO
comes from the certificate, never from the message it signs.

Development only creates its own CA (``kruispunt up`` → ``<data>/trust``); a deployment points the hub at
the real CA's certificate and revocation list instead. Private keys are files of mode 0600, never
defaulted; an existing key readable by others is refused.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kruispunt.ids import InvalidIdentifier, validate_enterprise_number

ORGANIZATION_PREFIX: Final = "NTRBE-"
CA_KEY: Final = "ca.key.pem"
CA_CERT: Final = "ca.cert.pem"
CRL_FILE: Final = "crl.pem"
ISSUED_DIR: Final = "institutions"


class TrustError(Exception):
    """A certificate (or CA folder) that cannot be trusted; ``code`` is stable for logs and answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Identity:
    """An institution's key pair and certificate."""

    kbo: str
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)


def _read_private(path: Path) -> ec.EllipticCurvePrivateKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise TrustError("bad_key", f"private key {path} is readable by others (mode {mode:04o}); chmod 600")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise TrustError("bad_key", f"private key {path} is not an EC P-256 key")
    return key


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def kbo_of(certificate: x509.Certificate) -> str:
    """The enterprise number a certificate names (its ``organizationIdentifier`` ``NTRBE-<KBO>``)."""
    values = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    if len(values) != 1:
        raise TrustError("bad_subject", "the certificate names no single organizationIdentifier")
    value = str(values[0].value)
    if not value.startswith(ORGANIZATION_PREFIX):
        raise TrustError("bad_subject", f"organizationIdentifier {value[:40]!r} is not NTRBE-<KBO>")
    try:
        return validate_enterprise_number(value.removeprefix(ORGANIZATION_PREFIX))
    except InvalidIdentifier as exc:
        raise TrustError("bad_subject", f"organizationIdentifier {value[:40]!r}: {exc}") from exc


def load_identity(folder: Path, kbo: str) -> Identity:
    """An institution's key and certificate from a trust folder's ``institutions/`` (no CA key needed)."""
    issued = folder / ISSUED_DIR
    cert_path = issued / f"{kbo}.cert.pem"
    if not cert_path.is_file():
        raise TrustError("unknown_institution", f"no certificate was issued to {kbo}")
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return Identity(kbo_of(certificate), certificate, _read_private(issued / f"{kbo}.key.pem"))


class NetworkCA:
    """The CA in ``folder``: its key, its self-signed certificate, the certificates it issued, its CRL."""

    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self.folder = folder
        self.key = key
        self.certificate = certificate

    @classmethod
    def create(
        cls, folder: Path, *, name: str = "kruispunt development network CA", days: int = 3650
    ) -> NetworkCA:
        """A new CA in ``folder`` (refused when one is there already: a CA is never silently replaced)."""
        if (folder / CA_KEY).exists():
            raise TrustError("exists", f"{folder} already holds a CA")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(folder / CA_KEY, key)
        _write_public(folder / CA_CERT, certificate.public_bytes(serialization.Encoding.PEM))
        ca = cls(folder, key, certificate)
        ca.write_crl([])
        return ca

    @classmethod
    def load(cls, folder: Path) -> NetworkCA:
        if not (folder / CA_KEY).is_file() or not (folder / CA_CERT).is_file():
            raise TrustError("no_ca", f"{folder} holds no CA (ca.key.pem and ca.cert.pem)")
        certificate = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        return cls(folder, _read_private(folder / CA_KEY), certificate)

    @classmethod
    def open(cls, folder: Path) -> NetworkCA:
        """The CA in ``folder``, created when there is none (development)."""
        return cls.load(folder) if (folder / CA_KEY).exists() else cls.create(folder)

    # issuing ---------------------------------------------------------------------------------------------
    def issue(
        self,
        kbo: str,
        name: str,
        *,
        days: int = 365,
        not_before: datetime | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> Identity:
        """A key pair (unless given) and a certificate for institution ``kbo``, valid ``days`` days."""
        number = validate_enterprise_number(kbo)
        key = key or ec.generate_private_key(ec.SECP256R1())
        start = not_before or datetime.now(UTC) - timedelta(minutes=5)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, name[:64] or number),
                x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, ORGANIZATION_PREFIX + number),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return Identity(number, certificate, key)

    def save(self, identity: Identity) -> None:
        """Keep an issued identity in ``institutions/<kbo>.{key,cert}.pem`` (development: every institution's
        key lives with the CA so the simulated institutions can sign; a real CA never sees the keys)."""
        folder = self.folder / ISSUED_DIR
        key_path = folder / f"{identity.kbo}.key.pem"
        if key_path.exists():
            key_path.unlink()
        _write_private(key_path, identity.key)
        _write_public(
            folder / f"{identity.kbo}.cert.pem", identity.certificate.public_bytes(serialization.Encoding.PEM)
        )

    def identity(self, kbo: str) -> Identity:
        return load_identity(self.folder, kbo)

    # revoking --------------------------------------------------------------------------------------------
    def revoked(self) -> x509.CertificateRevocationList:
        return x509.load_pem_x509_crl((self.folder / CRL_FILE).read_bytes())

    def write_crl(self, serials: list[int], *, next_update_days: int = 7) -> x509.CertificateRevocationList:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + timedelta(days=next_update_days))
        )
        for serial in sorted(set(serials)):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = builder.sign(self.key, hashes.SHA256())
        _write_public(self.folder / CRL_FILE, crl.public_bytes(serialization.Encoding.PEM))
        return crl

    def revoke(self, serial: int) -> x509.CertificateRevocationList:
        """Add ``serial`` to the revocation list (effective for every verifier that reloads the CRL)."""
        current = [entry.serial_number for entry in self.revoked()]
        return self.write_crl([*current, serial])


def verify_certificate(
    certificate: x509.Certificate,
    ca_certificate: x509.Certificate,
    crl: x509.CertificateRevocationList | None,
    *,
    now: datetime | None = None,
) -> str:
    """The KBO a certificate proves, after checking issuer signature, validity, usage and revocation.

    Raises :class:`TrustError` with code ``untrusted`` (not signed by the network's CA), ``expired``,
    ``not_yet_valid``, ``revoked``, ``not_an_institution`` (a CA certificate) or ``bad_subject``.
    """
    moment = now or datetime.now(UTC)
    if certificate.issuer != ca_certificate.subject:
        raise TrustError("untrusted", "the certificate was not issued by the network's CA")
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise TrustError("untrusted", "the certificate's signature is not the network CA's") from exc
    if moment < certificate.not_valid_before_utc:
        raise TrustError("not_yet_valid", f"the certificate is valid from {certificate.not_valid_before_utc}")
    if moment > certificate.not_valid_after_utc:
        raise TrustError("expired", f"the certificate expired on {certificate.not_valid_after_utc}")
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    if constraints.ca:
        raise TrustError("not_an_institution", "a CA certificate does not identify an institution")
    if crl is not None:
        if not crl.is_signature_valid(ca_certificate.public_key()):  # type: ignore[arg-type]
            raise TrustError("untrusted", "the revocation list is not signed by the network's CA")
        if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
            raise TrustError("revoked", f"certificate {certificate.serial_number:x} has been revoked")
    return kbo_of(certificate)
