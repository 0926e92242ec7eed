"""``kruispunt id …``: check identification numbers from the shell (one JSON object per call, for scripts)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kruispunt.ids.service import check

app = typer.Typer(help="Belgian social-security identification numbers: INSZ, KBO, RSZ, Dimona period id.")


@app.callback()
def _group() -> None:
    """Identification numbers (kept a group so ``check`` stays a sub-command when mounted or run alone)."""


@app.command("check")
def check_command(
    number: Annotated[str, typer.Argument(help="Any identifier; separators (spaces, dots, dashes) allowed.")],
) -> None:
    """Print {valid, kind, birth_date, sex, reason} as one JSON line; exit 0 when valid, 1 when not."""
    result = check(number)
    typer.echo(json.dumps(result.model_dump(), ensure_ascii=False))
    raise typer.Exit(code=0 if result.valid else 1)
