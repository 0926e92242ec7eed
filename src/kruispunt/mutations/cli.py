"""``kruispunt mutations …``: the operators' view of change delivery, over the service's HTTP API.

``status`` (every recipient: position, backlog, lag, retries, dead letters), ``dead-letters``, ``replay``
(deliver again from a cursor), ``resend`` (a dead letter), and ``record`` (run a recipient that records
what is pushed to it — for a lab or a test).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

app = typer.Typer(no_args_is_help=True, help="Change notifications: delivery state, dead letters, replay.")

UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="The mutations service (default: $KRUISPUNT_MUTATIONS_URL)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _url(url: str | None) -> str:
    found = url or os.environ.get("KRUISPUNT_MUTATIONS_URL")
    if not found:
        typer.echo("give --url or set KRUISPUNT_MUTATIONS_URL", err=True)
        raise typer.Exit(2)
    return found.rstrip("/")


def _call(method: str, url: str, **kw: Any) -> Any:
    try:
        response = httpx.request(method, url, timeout=30, **kw)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        typer.echo(f"HTTP {response.status_code}: {response.text[:500]}", err=True)
        raise typer.Exit(1)
    return response.json()


@app.command("status")
def status_command(url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Delivery state per recipient."""
    body = _call("GET", f"{_url(url)}/mutations/recipients")
    if as_json:
        typer.echo(json.dumps(body))
        return
    typer.echo(
        f"{'recipient':<12}{'mode':<6}{'acked':>10}{'backlog':>10}{'lag s':>9}{'retries':>9}{'dead':>6}"
    )
    for r in body["recipients"]:
        typer.echo(
            f"{r['recipient']:<12}{r['mode']:<6}{r['acked']:>10}{r['backlog']:>10}{r['lagSeconds']:>9}"
            f"{r['retries']:>9}{r['deadLetters']:>6}"
        )


@app.command("dead-letters")
def dead_letters_command(
    recipient: Annotated[str | None, typer.Option("--recipient")] = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliveries given up on, with the reason."""
    params = {"recipient": recipient} if recipient else {}
    body = _call("GET", f"{_url(url)}/mutations/dead-letters", params=params)
    if as_json:
        typer.echo(json.dumps(body))
        return
    for d in body["deadLetters"]:
        typer.echo(f"{d['id']:>6} {d['recipient']} {d['key']:<24} {d['at']}  {d['reason']}")


@app.command("replay")
def replay_command(
    recipient: Annotated[str, typer.Option("--recipient")],
    cursor: Annotated[int, typer.Option("--cursor", min=0, help="Deliver again everything after this.")],
    url: UrlOpt = None,
) -> None:
    """Move a recipient's position back: what follows is delivered again (applied once by the recipient)."""
    body = _call(
        "POST",
        f"{_url(url)}/mutations/recipients/{recipient}/replay",
        json={"cursor": cursor},
        headers={"X-Kruispunt-Institution": recipient},
    )
    typer.echo(json.dumps(body))


@app.command("resend")
def resend_command(letter: Annotated[int, typer.Argument(min=1)], url: UrlOpt = None) -> None:
    """Send one dead letter again."""
    typer.echo(json.dumps(_call("POST", f"{_url(url)}/mutations/dead-letters/{letter}/resend")))


@app.command("record")
def record_command(
    db: Annotated[Path, typer.Option("--db", help="SQLite file where the received changes are kept.")],
    port: Annotated[int, typer.Option("--port")] = 8090,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    secret: Annotated[str | None, typer.Option("--secret", help="The HMAC key of the signatures.")] = None,
) -> None:
    """Run a recipient that records every change pushed to it at POST /changes, each key once."""
    import uvicorn

    from kruispunt.mutations.consumer import create_recorder_app

    app_ = create_recorder_app(f"sqlite:///{db.resolve()}", secret=secret)
    uvicorn.run(app_, host=host, port=port, log_level="warning", access_log=False)
