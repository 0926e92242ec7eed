"""``kruispunt doctor``: is this deployment fit to run? One line per check, exit 1 when one fails.

Why one command: the things that break a network quietly are spread over every service — an institution's
certificate that expires next week, a revocation list past its update date, a private key others can
read, a database one migration behind, a log whose chain or checkpoints no longer verify, a service that
does not answer. An operator (or a cron job, with ``--json``) runs this before and after every change.

Each check is ``ok``, ``warn`` (works today, needs doing) or ``fail`` (broken now).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import httpx
from cryptography import x509
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import COMPONENTS, alembic_config, head_revision
from kruispunt.core.settings import Settings

Status = Literal["ok", "warn", "fail"]
EXPIRY_WARNING = timedelta(days=30)
CHECKPOINT_WARNING = timedelta(minutes=10)


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    status: Status
    detail: str


# -- trust ------------------------------------------------------------------------------------------------


def _private_files(folder: Path) -> Iterator[Path]:
    """The private keys in a folder: every ``*.pem`` but certificates and revocation lists."""
    for path in folder.rglob("*.pem"):
        if not path.name.endswith(("cert.pem", "crl.pem")):
            yield path


def check_trust(data_dir: Path, now: datetime) -> list[Check]:
    from kruispunt.trust.ca import CA_CERT, CRL_FILE, ISSUED_DIR, TrustError, kbo_of, verify_certificate

    folder = data_dir / "trust"
    if not (folder / CA_CERT).is_file():
        return [
            Check("trust", "network CA", "warn", f"no CA certificate in {folder}: signatures are not checked")
        ]
    checks: list[Check] = []
    ca = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    left = ca.not_valid_after_utc - now
    checks.append(
        Check(
            "trust",
            "network CA",
            "fail" if left <= timedelta(0) else "warn" if left < EXPIRY_WARNING else "ok",
            f"valid until {ca.not_valid_after_utc:%Y-%m-%d}",
        )
    )
    crl = None
    try:
        crl = x509.load_pem_x509_crl((folder / CRL_FILE).read_bytes())
        signed = crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        due = crl.next_update_utc
        status: Status = "fail" if not signed else "warn" if due is not None and due < now else "ok"
        detail = (
            "signature does not verify"
            if not signed
            else f"{len(list(crl))} revoked, next update {due:%Y-%m-%d}"
            if due
            else "no next update"
        )
        checks.append(Check("trust", "revocation list", status, detail))
    except (OSError, ValueError) as exc:
        checks.append(Check("trust", "revocation list", "fail", f"cannot be read: {exc}"))
    for cert_path in sorted((folder / ISSUED_DIR).glob("*.cert.pem")):
        name = cert_path.name.removesuffix(".cert.pem")
        try:
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            verify_certificate(certificate, ca, crl, now=now)
            left = certificate.not_valid_after_utc - now
            checks.append(
                Check(
                    "trust",
                    f"certificate {kbo_of(certificate)}",
                    "warn" if left < EXPIRY_WARNING else "ok",
                    f"valid until {certificate.not_valid_after_utc:%Y-%m-%d}",
                )
            )
        except (OSError, ValueError, TrustError) as exc:
            checks.append(Check("trust", f"certificate {name}", "fail", str(exc)))
    return checks


def check_private_keys(data_dir: Path) -> list[Check]:
    """Every private key file under the data folder readable by its owner only."""
    checks = []
    for folder in (data_dir / "trust", data_dir / "keys", data_dir / "idp"):
        if not folder.is_dir():
            continue
        for path in sorted(set(_private_files(folder))):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                checks.append(
                    Check("keys", str(path.relative_to(data_dir)), "fail", f"mode {mode:04o}; chmod 600")
                )
    if not checks:
        checks.append(Check("keys", "private keys", "ok", "readable by their owner only"))
    return checks


def check_published_keys(data_dir: Path) -> list[Check]:
    from kruispunt.attest.jwks import scan_keys

    scan = scan_keys(data_dir / "keys")
    if not scan.folder_exists:
        return [Check("keys", "published keys", "warn", f"no folder {data_dir / 'keys'}")]
    if scan.problems:
        return [Check("keys", "published keys", "fail", "; ".join(scan.problems))]
    return [Check("keys", "published keys", "ok", f"{len(scan.jwks['keys'])} keys in the network's JWKS")]


# -- databases --------------------------------------------------------------------------------------------


def _revisions() -> dict[str, tuple[str, str | None]]:
    """revision id → (component, that component's head)."""
    from alembic.script import ScriptDirectory

    found: dict[str, tuple[str, str | None]] = {}
    for component in COMPONENTS:
        head = head_revision(component)
        for script in ScriptDirectory.from_config(alembic_config(component)).walk_revisions():
            found[script.revision] = (component, head)
    return found


def _database_urls(settings: Settings) -> list[tuple[str, str]]:
    """(name, URL) of every database of this deployment: the SQLite files, or ``NAME_*`` on the server."""
    if settings.db_url is None:
        return [(p.stem, f"sqlite:///{p}") for p in sorted(settings.data_dir.glob("*.db"))]
    base = make_url(settings.db_url)
    prefix = f"{base.database}_"
    engine = make_engine(base.set(database="postgres").render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            names = [
                str(n)
                for (n,) in conn.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": prefix + "%"}
                )
            ]
    finally:
        engine.dispose()
    return [
        (n.removeprefix(prefix), base.set(database=n).render_as_string(hide_password=False))
        for n in sorted(names)
    ]


def check_migrations(settings: Settings) -> list[Check]:
    revisions = _revisions()
    checks = []
    for name, url in _database_urls(settings):
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            checks.append(Check("migrations", name, "fail", "no migration history (alembic_version)"))
            continue
        finally:
            engine.dispose()
        component, head = revisions.get(str(current), ("?", None))
        if current is None:
            checks.append(Check("migrations", name, "fail", "no migration applied: upgrade"))
        elif head is None:
            checks.append(Check("migrations", name, "fail", f"revision {current} is unknown to this release"))
        elif current != head:
            checks.append(
                Check("migrations", name, "fail", f"{component} at {current}, head is {head}: upgrade")
            )
        else:
            checks.append(Check("migrations", name, "ok", f"{component} at head {head}"))
    return checks


# -- the log ----------------------------------------------------------------------------------------------


def check_log(settings: Settings, now: datetime) -> list[Check]:
    from kruispunt.attest.keys import KeySet
    from kruispunt.audit.checkpoints import latest_checkpoint, verify_log
    from kruispunt.audit.service import verify
    from kruispunt.network import KSZ
    from kruispunt.sources.social.signing import public_key_path

    url = component_url(settings.db_url, settings.data_dir, "audit")
    if settings.db_url is None and not (settings.data_dir / "audit.db").is_file():
        return [Check("log", "audit log", "warn", "no audit database yet")]
    engine = make_engine(url)
    try:
        report = verify(engine)
        checks = [
            Check(
                "log",
                "hash chains",
                "ok" if report.ok else "fail",
                f"{report.checked} entries in {report.chains} chains" if report.ok else str(report.reason),
            )
        ]
        key_file = public_key_path(settings.data_dir / "keys", KSZ)
        if not key_file.is_file():
            checks.append(Check("log", "checkpoints", "warn", "no checkpoint key published: not checked"))
            return checks
        keys = KeySet.from_jwks({"keys": [json.loads(key_file.read_text("utf-8"))]})
        signed = verify_log(engine, keys)
        with engine.connect() as conn:
            latest = latest_checkpoint(conn, keys)
        if not signed.ok:
            checks.append(Check("log", "checkpoints", "fail", "; ".join(signed.problems)))
        elif latest is None:
            checks.append(Check("log", "checkpoints", "warn", "no checkpoint signed yet"))
        else:
            age = now - datetime.fromisoformat(latest.time.replace("Z", "+00:00"))
            status: Status = "warn" if age > CHECKPOINT_WARNING else "ok"
            checks.append(
                Check("log", "checkpoints", status, f"{signed.checkpoints} verified; latest {latest.time}")
            )
        return checks
    except SQLAlchemyError as exc:
        return [Check("log", "audit log", "fail", f"cannot be read: {str(exc).splitlines()[0]}")]
    finally:
        engine.dispose()


# -- services ---------------------------------------------------------------------------------------------


def check_services(settings: Settings, timeout_s: float = 3.0) -> list[Check]:
    urls = dict(settings.endpoints)
    for name in ("hub_url", "mutations_url", "coding_url", "warehouse_url", "idp_url", "portal_url"):
        value = getattr(settings, name)
        if value:
            urls[name.removesuffix("_url")] = value
    checks = []
    with httpx.Client(timeout=timeout_s) as client:
        for name, url in sorted(urls.items()):
            try:
                answer = client.get(f"{url.rstrip('/')}/health")
                ok = answer.status_code == 200
                checks.append(
                    Check("services", name, "ok" if ok else "fail", f"{url}: HTTP {answer.status_code}")
                )
            except httpx.HTTPError as exc:
                checks.append(Check("services", name, "fail", f"{url}: {type(exc).__name__}"))
    if not checks:
        checks.append(Check("services", "services", "warn", "no service URL configured"))
    return checks


def run_checks(settings: Settings, *, services: bool = True, now: datetime | None = None) -> list[Check]:
    moment = now or datetime.now(UTC)
    checks = [
        *check_trust(settings.data_dir, moment),
        *check_private_keys(settings.data_dir),
        *check_published_keys(settings.data_dir),
        *check_migrations(settings),
        *check_log(settings, moment),
    ]
    if services:
        checks.extend(check_services(settings))
    return checks
