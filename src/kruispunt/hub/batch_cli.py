"""``kruispunt batch``: submit a batch file to a hub, follow it, fetch its results and error report.

The caller's identity is declared (no authentication yet): ``submit`` takes it from the file's header,
``status`` from ``--cbe`` (or ``KRUISPUNT_CBE_NUMBER``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

# as in kruispunt.hub.batch_api (not imported: it would load the whole hub into every `kruispunt` command)
IDENTITY_HEADER = "X-Kruispunt-Cbe-Number"
NDJSON = "application/x-ndjson"

app = typer.Typer(no_args_is_help=True)

HubOpt = Annotated[str, typer.Option("--hub", help="Base URL of the hub, e.g. http://127.0.0.1:8000.")]
CbeOpt = Annotated[
    str | None,
    typer.Option("--cbe", envvar="KRUISPUNT_CBE_NUMBER", help="CBE number of the institution that sent it."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"HTTP {response.status_code} {error.get('code', '')}: {error.get('message', response.text)}"
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}: {response.text[:500]}"


def _header_cbe(path: Path) -> str | None:
    with path.open("rb") as fh:
        first = fh.readline(64 * 1024)
    try:
        ident = json.loads(first).get("customerIdentification", {})
    except (ValueError, AttributeError):
        return None
    value = ident.get("cbeNumber") if isinstance(ident, dict) else None
    return value if isinstance(value, str) else None


def _download(client: httpx.Client, url: str, target: Path) -> int:
    lines = 0
    with client.stream("GET", url, timeout=None) as response:
        if response.status_code != 200:
            raise _fail(f"{url}: {_error_text(response)}")
        with target.open("wb") as fh:
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                fh.write(chunk)
    return lines


def follow(client: httpx.Client, batch_id: str, *, interval: float = 0.5) -> dict[str, Any]:
    """Poll the status with a progress bar until the batch is DONE or FAILED; the last status."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[rate]} lines/s"),
        TextColumn("{task.fields[refused]} refused"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(batch_id[:8], total=None, rate="-", refused=0)
        while True:
            response = client.get(f"/hub/batches/{batch_id}")
            if response.status_code != 200:
                raise _fail(_error_text(response))
            status: dict[str, Any] = response.json()
            counts = status["counts"]
            progress.update(
                task,
                total=counts["total"],
                completed=counts["done"],
                description=f"{batch_id[:8]} {status['status']}",
                rate=status["ratePerSecond"],
                refused=counts["refused"],
            )
            if status["status"] in ("DONE", "FAILED"):
                return status
            time.sleep(interval)


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The batch file (JSON Lines).")],
    hub: HubOpt,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow it to the end, then download results and errors.")
    ] = False,
) -> None:
    """Upload a batch file; with --wait follow it, then write FILE.results.jsonl and FILE.errors.jsonl."""
    cbe = _header_cbe(file)
    headers = {"content-type": NDJSON, **({IDENTITY_HEADER: cbe} if cbe else {})}
    with httpx.Client(base_url=hub, headers=headers if cbe else {}, timeout=60) as client:
        with file.open("rb") as fh:
            response = client.post("/hub/batches", content=fh, headers=headers, timeout=None)
        if response.status_code != 202:
            raise _fail(f"refused: {_error_text(response)}")
        accepted = response.json()
        batch_id = accepted["batchId"]
        typer.echo(f"batch {batch_id}: {accepted['lines']} lines queued")
        if not wait:
            return
        status = follow(client, batch_id)
        if status["status"] == "FAILED":
            raise _fail(f"batch {batch_id} FAILED: {status.get('failure')}")
        stem = file.with_suffix("") if file.suffix == ".jsonl" else file
        results = stem.with_name(stem.name + ".results.jsonl")
        report = stem.with_name(stem.name + ".errors.jsonl")
        got = _download(client, f"/hub/batches/{batch_id}/results", results)
        bad = _download(client, f"/hub/batches/{batch_id}/errors", report)
        counts = status["counts"]
        typer.echo(
            f"done: {counts['dataFound']} data found, {counts['noDataFound']} no data, {counts['refused']} "
            f"refused; {got} results in {results}, {bad} errors in {report}"
        )


@app.command()
def status(
    batch_id: Annotated[str, typer.Argument(help="The batch id printed by submit.")],
    hub: HubOpt,
    cbe: CbeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status document as JSON.")] = False,
) -> None:
    """Show a batch's status (counts, percent, rate)."""
    if not cbe:
        raise _fail("give --cbe (or KRUISPUNT_CBE_NUMBER): the CBE number of the institution that sent it", 2)
    response = httpx.get(
        f"{hub.rstrip('/')}/hub/batches/{batch_id}", headers={IDENTITY_HEADER: cbe}, timeout=30
    )
    if response.status_code != 200:
        raise _fail(_error_text(response))
    doc = response.json()
    if as_json:
        typer.echo(json.dumps(doc))
        return
    counts = doc["counts"]
    typer.echo(
        f"{doc['batchId']} {doc['status']}: {counts['done']}/{counts['total']} lines ({doc['percent']}%), "
        f"{counts['dataFound']} data found, {counts['noDataFound']} no data, {counts['refused']} refused; "
        f"{doc['ratePerSecond']} lines/s" + (f"; failure: {doc['failure']}" if doc.get("failure") else "")
    )
