"""``kruispunt network …`` commands: check the deliberations, list the institutions, generate the docs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import DeliberationError, load_deliberations
from kruispunt.network.registry import Registry

app = typer.Typer(help="Network reference data: institutions, deliberations.", no_args_is_help=True)


@app.command("check-deliberations")
def check_deliberations(
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder of deliberation files (default: KRUISPUNT_DELIBERATIONS_DIR)."),
    ] = None,
) -> None:
    """Load and check every deliberation file; print each problem; exit 1 when there is one."""
    if folder is None:
        from kruispunt.core.settings import get_settings

        folder = get_settings().deliberations_dir
    try:
        index = load_deliberations(
            folder, registry=Registry.load_default(), catalogue=Catalogue.load_default()
        )
    except DeliberationError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {folder}", err=True)
        raise typer.Exit(1) from None
    for d in index.all():
        until = d.valid_to.isoformat() if d.valid_to else "open-ended"
        types = ", ".join(f"{n} v{v}" for n, v in d.message_types)
        typer.echo(
            f"{d.id}  {d.valid_from} → {until}  {', '.join(d.legal_contexts)}  [{types}]  ({d.source})"
        )
    typer.echo(f"{len(index)} deliberation(s) OK in {folder}")


@app.command("list-institutions")
def list_institutions() -> None:
    """Print the institutions of the network: KBO, sector/type, service, name."""
    registry = Registry.load_default()
    for inst in registry.institutions():
        sector = registry.sector(inst.sector, inst.institution_type)
        short = sector.short_name if sector else "?"
        typer.echo(
            f"{inst.kbo}  {inst.sector:>3}/{inst.institution_type:<3} {short:<8} "
            f"{inst.service or '-':<18} {inst.name}"
        )


@app.command("docs")
def docs(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write (default: docs/message-types.md under the repo root)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 when the file is not up to date.")
    ] = False,
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Folder of deliberation files (default: KRUISPUNT_DELIBERATIONS_DIR)."),
    ] = None,
) -> None:
    """Generate the message-type reference (schemas, providers, deliberations) from the catalogue."""
    from kruispunt.core.settings import REPO_ROOT, get_settings
    from kruispunt.network.catalogue_docs import COMMAND, render_markdown

    if out is None:
        out = REPO_ROOT / "docs" / "message-types.md"
    if folder is None:
        folder = get_settings().deliberations_dir
    registry = Registry.load_default()
    catalogue = Catalogue.load_default()
    try:
        index = load_deliberations(folder, registry=registry, catalogue=catalogue)
    except DeliberationError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {folder}", err=True)
        raise typer.Exit(1) from None
    text = render_markdown(catalogue, index, registry)
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            state = "is missing" if current is None else "is out of date"
            typer.echo(f"{out} {state}: run `{COMMAND}` to regenerate it", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
