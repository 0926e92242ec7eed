"""``kruispunt employers …``: export what employers declared as official XML.

The exports read the employers database (``--data-dir`` / ``--db`` as for every service) and write XML that
validates against the official XSDs (checked before it is written: an export that would not validate is an
error, exit 1, never a file).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from kruispunt.core.db import component_url, make_engine
from kruispunt.employers import SERVICE

app = typer.Typer(no_args_is_help=True, help="Employer declarations: exports as official XML.")

DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Folder of the SQLite files.")]
DbOpt = Annotated[str | None, typer.Option("--db", help="Base database URL (default: SQLite files).")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Write here (default: standard output).")]


def _engine(data_dir: Path | None, db: str | None) -> Engine:
    from kruispunt.core.settings import get_settings

    settings = get_settings()
    url = component_url(db if db is not None else settings.db_url, data_dir or settings.data_dir, SERVICE)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        typer.echo(f"no employers database at {parsed.database}", err=True)
        raise typer.Exit(2)
    return make_engine(url)


def _export(
    read: Callable[[Connection], bytes],
    *,
    schema: str,
    data_dir: Path | None,
    db: str | None,
    out: Path | None,
) -> None:
    """Read an export from the employers database, check it against its XSD, then write it (to ``out`` or
    standard output): an export that would not validate is an error, never a file."""
    from kruispunt.employers import xmlsafe

    engine = _engine(data_dir, db)
    try:
        with engine.connect() as conn:
            data = read(conn)
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    try:
        xmlsafe.parse(data, schema_name=schema)
    except xmlsafe.XmlRefused as exc:
        typer.echo(f"the export does not validate: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.write_bytes(data)
        typer.echo(f"wrote {out} ({len(data)} bytes)", err=True)


def _employer(value: str) -> str:
    from kruispunt.ids import InvalidIdentifier, validate_enterprise_number

    try:
        return validate_enterprise_number(value)
    except InvalidIdentifier as exc:
        typer.echo(f"--employer: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("export-dmfa")
def export_dmfa_command(
    employer: Annotated[str, typer.Option("--employer", help="KBO number of the employer.")],
    quarter: Annotated[str, typer.Option("--quarter", help="The quarter: 20243 or 2024-Q3.")],
    out: OutOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
) -> None:
    """The employer's DmfA of a quarter (latest version) as DmfAOriginal XML."""
    from kruispunt.employers import dmfa_xml

    digits = quarter.replace("-Q", "").replace("Q", "")
    if not (len(digits) == 5 and digits.isdigit() and digits[4] in "1234"):
        typer.echo("--quarter: give YYYYQ (20243) or YYYY-QN (2024-Q3)", err=True)
        raise typer.Exit(2)
    kbo = _employer(employer)
    _export(
        lambda conn: dmfa_xml.export_dmfa(conn, employer_kbo=kbo, quarter=int(digits)),
        schema="dmfa",
        data_dir=data_dir,
        db=db,
        out=out,
    )


@app.command("export-dimona")
def export_dimona_command(
    employer: Annotated[str, typer.Option("--employer", help="KBO number of the employer.")],
    worker: Annotated[str | None, typer.Option("--worker", help="Only this worker (INSZ).")] = None,
    out: OutOpt = None,
    data_dir: DataDirOpt = None,
    db: DbOpt = None,
) -> None:
    """The employer's current Dimona periods as a Dimona XML file (DimonaIn forms)."""
    from kruispunt.employers import dimona_xml
    from kruispunt.ids import InvalidIdentifier, validate_insz

    insz = None
    if worker is not None:
        try:
            insz = validate_insz(worker).number
        except InvalidIdentifier as exc:
            typer.echo(f"--worker: {exc}", err=True)
            raise typer.Exit(2) from exc
    kbo = _employer(employer)
    _export(
        lambda conn: dimona_xml.export_periods(conn, employer_kbo=kbo, insz=insz),
        schema="dimona",
        data_dir=data_dir,
        db=db,
        out=out,
    )
