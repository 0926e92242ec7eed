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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from kruispunt.audit.service import VerifyReport, verify
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.settings import get_settings

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


@app.command("verify")
def verify_command(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Folder of the SQLite files (default: from settings).")
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="Base database URL, e.g. postgresql://host/kruispunt.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Recompute every hash chain of the audit log; exit 0 intact, 1 not intact, 2 database unreadable."""
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
    engine = make_engine(url)
    try:
        report = verify(engine)
    except SQLAlchemyError as exc:
        raise _open_error(shown, str(exc).splitlines()[0], as_json) from exc
    finally:
        engine.dispose()
    if as_json:
        body = {
            "ok": report.ok,
            "checked": report.checked,
            "chains": report.chains,
            "first_bad_chain": report.first_bad_chain,
            "first_bad_seq": report.first_bad_seq,
            "reason": report.reason,
            "last_hash": report.last_hash,  # chain 0's
            "heads": {str(chain): h for chain, h in sorted(report.heads.items())},
            "database": shown,
        }
        typer.echo(orjson.dumps(body).decode())
    else:
        typer.echo(_summary(report))
    raise typer.Exit(0 if report.ok else 1)
