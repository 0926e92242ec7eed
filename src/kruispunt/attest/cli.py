"""``kruispunt attest …``: verify an electronic attestation offline with the network's published keys, which
``keys`` downloads from a hub (``--hub URL``) or collects from a key folder (``--dir DIR``).

Exit codes of ``verify``: 0 — signature valid and in force on the date; 1 — refused (the reason is printed),
including "signature valid but expired / not yet valid"; 2 — a file cannot be read, the key set is unusable,
or ``--on`` is not a date.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from kruispunt.attest.errors import AttestationError
from kruispunt.attest.keys import KeySet
from kruispunt.attest.service import verify

app = typer.Typer(help="Electronic attestations: signed by their source, verifiable offline.")


@app.callback()
def _group() -> None:
    """Electronic attestations (kept a group so ``verify`` stays a sub-command when mounted or run alone)."""


def _fail(message: str, *, as_json: bool, code: int) -> typer.Exit:
    if as_json:
        typer.echo(
            json.dumps({"valid": False, "signature_valid": False, "code": "unreadable", "reason": message})
        )
    else:
        typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


def _read_text(path: Path, what: str, *, as_json: bool) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {what} {path}: {exc}", as_json=as_json, code=2) from exc


@app.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(help="File holding one compact JWS attestation.")],
    keys: Annotated[Path, typer.Option("--keys", help="The network's published JWKS (JSON).")],
    on: Annotated[str | None, typer.Option("--on", help="Check validity on this date (YYYY-MM-DD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Verify FILE against the key set; exit 0 valid, 1 refused (reason printed), 2 unreadable input."""
    try:
        checked_on = date.fromisoformat(on) if on is not None else None
    except ValueError as exc:
        raise _fail(f"--on {on!r} is not a date (YYYY-MM-DD)", as_json=as_json, code=2) from exc
    token = _read_text(file, "attestation", as_json=as_json)
    jwks_text = _read_text(keys, "key set", as_json=as_json)
    try:
        key_set = KeySet.from_jwks(json.loads(jwks_text))
    except ValueError as exc:
        raise _fail(f"key set {keys} is not JSON: {exc}", as_json=as_json, code=2) from exc
    except AttestationError as exc:
        raise _fail(f"key set {keys} refused: {exc.reason}", as_json=as_json, code=2) from exc

    out: dict[str, Any]
    try:
        result = verify(token.strip(), key_set, on=checked_on)
    except AttestationError as exc:
        out = {"valid": False, "signature_valid": False, "code": exc.code, "reason": exc.reason}
        typer.echo(json.dumps(out) if as_json else f"INVALID: {exc.reason}")
        raise typer.Exit(code=1) from None
    message = result.describe()
    if as_json:
        out = {
            "valid": result.in_force,
            "signature_valid": True,
            "code": None if result.in_force else result.validity,
            "reason": None if result.in_force else message,
            "validity": result.validity,
            "checked_on": result.checked_on.isoformat(),
            "kid": result.kid,
            "attestation": result.attestation.model_dump(mode="json"),
        }
        typer.echo(json.dumps(out, ensure_ascii=False, sort_keys=True))
    else:
        a = result.attestation
        status = "VALID" if result.in_force else "INVALID"
        typer.echo(f"{status}: {message}")
        typer.echo(
            f"  {a.type} for {a.subject} by {a.issuer} (key {result.kid}), "
            f"{a.valid_from} – {a.valid_to or '…'}"
        )
        typer.echo(f"  legal basis: {a.legal_basis}")
    raise typer.Exit(code=0 if result.in_force else 1)


@app.command("keys")
def keys_command(
    hub: Annotated[
        str | None, typer.Option("--hub", help="Download from this hub (base URL; GET <URL>/hub/keys).")
    ] = None,
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Collect offline from this folder of <kbo>.jwk.json files.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the JWKS here (default: stdout).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the hub.")] = 10.0,
) -> None:
    """Save the network's published keys (JWKS) for ``verify --keys``; exit 1 bad key file, 2 unreadable."""
    from kruispunt.attest.jwks import collect_jwks, dump_jwks, write_jwks

    if (hub is None) == (folder is None):
        raise _fail("give exactly one of --hub URL and --dir DIR", as_json=False, code=2)
    if folder is not None:
        if not folder.is_dir():
            raise _fail(f"key folder {folder} does not exist", as_json=False, code=2)
        try:
            jwks = collect_jwks(folder)
        except AttestationError as exc:
            raise _fail(exc.reason, as_json=False, code=1) from exc
        source = str(folder)
    else:
        assert hub is not None
        jwks = _download_jwks(hub, timeout)
        source = hub
    if out is None:
        typer.echo(dump_jwks(jwks), nl=False)
    else:
        write_jwks(out, jwks)
    where = f"to {out}" if out is not None else "to stdout"
    typer.echo(f"{len(jwks['keys'])} key(s) from {source} written {where}", err=True)


def _download_jwks(hub: str, timeout: float) -> dict[str, Any]:
    import httpx

    url = hub.rstrip("/")
    if not url.endswith("/hub/keys"):
        url += "/hub/keys"
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot fetch {url}: {exc}", as_json=False, code=2) from exc
    if response.status_code != 200:
        raise _fail(f"{url} answered HTTP {response.status_code}", as_json=False, code=2)
    try:
        doc = response.json()
    except ValueError as exc:
        raise _fail(f"{url} did not answer JSON: {exc}", as_json=False, code=2) from exc
    try:
        KeySet.from_jwks(doc)
    except AttestationError as exc:
        raise _fail(f"key set from {url} refused: {exc.reason}", as_json=False, code=2) from exc
    return {"keys": list(doc["keys"])}
