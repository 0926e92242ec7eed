"""``kruispunt audit …``: check the log's integrity from the command line (and from cron).

Exit codes are the contract for scripts: 0 every chain is intact, 1 one is not (the first bad entry is
named by chain, seq and ticket), 2 the audit database cannot be opened or read. ``--json`` gives the heads
of every chain: publish them elsewhere to anchor the log (removing a whole chain, head row included, or
the whole database cannot be seen from inside).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from cryptography import x509
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from kruispunt.attest.errors import AttestationError
from kruispunt.attest.keys import KeySet
from kruispunt.audit.checkpointer import checkpoint_if_grown, log_signing_key
from kruispunt.audit.checkpoints import verify_log
from kruispunt.audit.evidence import EvidenceError, build_evidence, verify_evidence
from kruispunt.audit.models import audit_checkpoint
from kruispunt.audit.service import VerifyReport, verify
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.settings import get_settings
from kruispunt.network import KSZ
from kruispunt.sources.social.signing import public_key_path
from kruispunt.trust.ca import TrustError

app = typer.Typer(help="The tamper-evident log of every exchange.", no_args_is_help=True)


@app.callback()
def _audit() -> None:
    """The tamper-evident log of every exchange."""


def _open_error(url: str, reason: str, as_json: bool) -> typer.Exit:
    if as_json:
        typer.echo(orjson.dumps({"ok": None, "database": url, "error": reason}).decode())
    else:
        typer.echo(f"cannot open the audit database {url}: {reason}", err=True)
    return typer.Exit(2)


def _summary(report: VerifyReport) -> str:
    if report.ok:
        chains = "1 chain" if report.chains == 1 else f"{report.chains} chains"
        heads = "".join(f", chain {chain} last hash {h}" for chain, h in sorted(report.heads.items()))
        return f"audit log intact: {report.checked} entries verified in {chains}{heads}"
    return f"audit log NOT intact: {report.reason} ({report.checked} entries verified before it)"


DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Folder of the SQLite files (default: from settings).")
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Base database URL, e.g. postgresql://host/kruispunt.")
]


def _open_engine(data_dir: Path | None, db: str | None, as_json: bool) -> tuple[Engine, str]:
    """The audit database's engine and its URL for display (password hidden); exit 2 when unopenable."""
    settings = get_settings()
    base = db if db is not None else settings.db_url
    try:
        url = component_url(base, data_dir if data_dir is not None else settings.data_dir, "audit")
    except ValueError as exc:
        raise _open_error(str(base), str(exc), as_json) from exc
    shown = make_url(url).render_as_string(hide_password=True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        # do not let SQLite create an empty file and call it an intact log
        raise _open_error(shown, "no such database file", as_json)
    return make_engine(url), shown


def _checkpoint_keys(keys_file: Path | None, data_dir: Path | None) -> KeySet | None:
    """The keys that sign checkpoints: ``--keys`` (a JWKS from ``GET /hub/keys``), else the KSZ's public
    key in the data folder; ``None`` when neither exists."""
    if keys_file is None:
        folder = (data_dir if data_dir is not None else get_settings().data_dir) / "keys"
        keys_file = public_key_path(folder, KSZ)
        if not keys_file.is_file():
            return None
    doc = orjson.loads(keys_file.read_bytes())
    return KeySet.from_jwks(doc if "keys" in doc else {"keys": [doc]})


@app.command("verify")
def verify_command(
    data_dir: DataDirOption = None,
    db: DbOption = None,
    keys: Annotated[
        Path | None,
        typer.Option("--keys", help="JWKS of the network (GET /hub/keys) to check the signed checkpoints."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Recompute every hash chain of the audit log and check it against every signed checkpoint; exit 0
    intact, 1 not intact, 2 database unreadable."""
    engine, shown = _open_engine(data_dir, db, as_json)
    try:
        report = verify(engine)
        key_set = _checkpoint_keys(keys, data_dir)
        signed = verify_log(engine, key_set) if key_set is not None else None
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(audit_checkpoint)).scalar() or 0
    except SQLAlchemyError as exc:
        raise _open_error(shown, str(exc).splitlines()[0], as_json) from exc
    except (OSError, ValueError, AttestationError) as exc:
        raise _open_error(shown, f"the checkpoint keys cannot be read: {exc}", as_json) from exc
    finally:
        engine.dispose()
    ok = report.ok and (signed is None or signed.ok)
    if as_json:
        body = {
            "ok": ok,
            "checked": report.checked,
            "chains": report.chains,
            "first_bad_chain": report.first_bad_chain,
            "first_bad_seq": report.first_bad_seq,
            "reason": report.reason,
            "last_hash": report.last_hash,  # chain 0's
            "heads": {str(chain): h for chain, h in sorted(report.heads.items())},
            "checkpoints": signed.checkpoints if signed is not None else None,
            "checkpoint_problems": list(signed.problems) if signed is not None else [],
            "database": shown,
        }
        typer.echo(orjson.dumps(body).decode())
    else:
        typer.echo(_summary(report))
        if signed is None:
            if stored:
                typer.echo(f"{stored} signed checkpoints not checked: no key found (give --keys)")
        elif signed.ok and signed.checkpoints:
            typer.echo(f"{signed.checkpoints} signed checkpoints verified against the log")
        else:
            for problem in signed.problems:
                typer.echo(f"checkpoint problem: {problem}")
    raise typer.Exit(0 if ok else 1)


@app.command("checkpoint")
def checkpoint_command(data_dir: DataDirOption = None, db: DbOption = None) -> None:
    """Sign a checkpoint of the log now with the KSZ's key (the hub does so every minute by itself)."""
    engine, shown = _open_engine(data_dir, db, False)
    folder = (data_dir if data_dir is not None else get_settings().data_dir) / "keys"
    try:
        made = checkpoint_if_grown(engine, log_signing_key(folder))
    except SQLAlchemyError as exc:
        raise _open_error(shown, str(exc).splitlines()[0], False) from exc
    finally:
        engine.dispose()
    if made is None:
        typer.echo("the latest checkpoint already covers the whole log")
        return
    sizes = ", ".join(f"chain {s.chain}: {s.size} entries" for s in made.chains)
    typer.echo(f"checkpoint {made.id} signed ({sizes})")


@app.command("show")
def show_command(
    ticket: Annotated[str, typer.Argument(help="The hub's ticket of the exchange.")],
    data_dir: DataDirOption = None,
    db: DbOption = None,
    keys: Annotated[
        Path | None, typer.Option("--keys", help="JWKS of the network (GET /hub/keys) for the checkpoints.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the evidence file here (else stdout).")
    ] = None,
) -> None:
    """Write the evidence file of one exchange: its log entry with an inclusion proof under a signed
    checkpoint, the sender's signed request digest and the hub's signed answer digest. Exit 1 when the
    exchange or its evidence is not there (yet)."""
    engine, shown = _open_engine(data_dir, db, False)
    folder = (data_dir if data_dir is not None else get_settings().data_dir) / "trust"
    try:
        key_set = _checkpoint_keys(keys, data_dir)
        if key_set is None:
            typer.echo("no key of the log found (give --keys)", err=True)
            raise typer.Exit(2)
        with engine.connect() as conn:
            doc = build_evidence(conn, ticket, key_set, folder)
    except SQLAlchemyError as exc:
        raise _open_error(shown, str(exc).splitlines()[0], False) from exc
    except (EvidenceError, TrustError, OSError) as exc:
        typer.echo(f"no evidence: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"evidence of {ticket} written to {out}")


@app.command("verify-evidence")
def verify_evidence_command(
    file: Annotated[Path, typer.Argument(help="An evidence file written by `kruispunt audit show`.")],
    ca: Annotated[
        Path | None, typer.Option("--ca", help="The network CA's certificate (PEM) to trust.")
    ] = None,
    keys: Annotated[Path | None, typer.Option("--keys", help="JWKS of the network (GET /hub/keys).")] = None,
) -> None:
    """Check an evidence file offline (no database, no network): exit 0 when it holds, 1 when it does
    not, 2 when a file cannot be read."""
    try:
        doc = orjson.loads(file.read_bytes())
        anchor = x509.load_pem_x509_certificate(ca.read_bytes()) if ca is not None else None
        key_set = None
        if keys is not None:
            jwks = orjson.loads(keys.read_bytes())
            key_set = KeySet.from_jwks(jwks if "keys" in jwks else {"keys": [jwks]})
    except (OSError, ValueError, AttestationError) as exc:
        typer.echo(f"cannot read: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        report = verify_evidence(doc, ca_certificate=anchor, log_keys=key_set)
    except EvidenceError as exc:
        typer.echo(f"evidence does NOT verify: {exc}")
        raise typer.Exit(1) from exc
    who = f"signed by {report.requester}" if report.requester else "unsigned request"
    typer.echo(
        f"evidence of {report.ticket} verifies: {who}, answered by the KSZ, in checkpoint {report.checkpoint}"
    )
    if anchor is None:
        typer.echo("(trusting the CA and log key the file carries: give --ca and --keys to pin them)")
