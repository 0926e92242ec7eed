"""The network's published keys: every institution's public JWK, collected from a folder into one JWKS.

Each source service writes its institution's public key to ``<data_dir>/keys/<kbo>.jwk.json`` (one JWK, or
a JWKS ``{"keys": [...]}`` while a key is being rolled over). :func:`scan_keys` reads them all and checks each
with :meth:`KeySet.from_jwks` — public keys only, ES256 on P-256, a well-formed ``kid`` of the institution the
file is named after, no kid twice with different keys. A bad file is *reported* (``KeyScan.problems``), never
silently skipped: :func:`collect_jwks` refuses the folder when there is one; the hub's ``GET /hub/keys``
publishes the good keys and logs each problem. ``kruispunt attest keys`` writes the JWKS to a file, with
which anyone can run ``kruispunt attest verify TOKEN_FILE --keys FILE`` offline.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kruispunt.attest.errors import AttestationError
from kruispunt.attest.keys import KeySet, issuer_of_kid

KEY_FILE_SUFFIX: Final = ".jwk.json"
MAX_KEY_FILE_BYTES: Final = 64 * 1024
JWKS_MEDIA_TYPE: Final = "application/jwk-set+json"
# the members a published EC public key keeps; anything else (x5c, key_ops, ...) is dropped
_PUBLIC_MEMBERS: Final = ("kty", "crv", "x", "y", "kid", "alg", "use")


@dataclass(frozen=True)
class KeyScan:
    """What a key folder holds: the JWKS of its good keys, and one ``<file>: <reason>`` per problem."""

    jwks: dict[str, Any]
    problems: tuple[str, ...] = ()
    files: int = 0
    folder_exists: bool = True

    @property
    def kids(self) -> list[str]:
        return [str(k["kid"]) for k in self.jwks["keys"]]


def key_file(folder: Path, kbo: str) -> Path:
    """Where an institution's public key is published: ``<folder>/<kbo>.jwk.json``."""
    return folder / f"{kbo}{KEY_FILE_SUFFIX}"


def _keys_in(doc: Any) -> list[Any]:
    if isinstance(doc, Mapping) and isinstance(doc.get("keys"), list):
        return list(doc["keys"])
    if isinstance(doc, Mapping) and "kty" in doc:
        return [doc]
    raise AttestationError('neither a JWK (with "kty") nor a JWKS (with a "keys" list)', code="bad_jwks")


def _read_file(path: Path) -> list[dict[str, Any]]:
    """The public keys of one file, each checked; :class:`AttestationError` for the first problem."""
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise AttestationError(f"larger than {MAX_KEY_FILE_BYTES} bytes", code="bad_jwks")
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise AttestationError(f"cannot be read: {exc.strerror or exc}", code="bad_jwks") from exc
    except ValueError as exc:
        raise AttestationError(f"is not JSON: {exc}", code="bad_jwks") from exc
    keys = _keys_in(doc)
    if not keys:
        raise AttestationError("holds no key", code="bad_jwks")
    KeySet.from_jwks({"keys": keys})  # public, ES256 / P-256, well-formed and unique kids
    stem = path.name.removesuffix(KEY_FILE_SUFFIX)
    out = []
    for jwk in keys:
        kid = str(jwk["kid"])
        owner = issuer_of_kid(kid)
        if stem.isdigit() and len(stem) == 10 and owner != stem:
            raise AttestationError(
                f"key {kid!r} belongs to KBO {owner}, not to {stem} the file is named after", code="bad_jwks"
            )
        public = {m: jwk[m] for m in _PUBLIC_MEMBERS if m in jwk}
        public.setdefault("use", "sig")
        out.append(public)
    return out


def scan_keys(folder: Path) -> KeyScan:
    """Read every ``*.jwk.json`` in ``folder``: good keys in ``jwks`` (by kid), bad files in ``problems``.

    A missing folder is an empty key set (no source has published a key yet), flagged by ``folder_exists``.
    Two files publishing one kid with different keys: both refused (which one is genuine is not for the hub
    to guess); the same key twice is published once.
    """
    if not folder.is_dir():
        return KeyScan(jwks={"keys": []}, folder_exists=False)
    problems: list[str] = []
    found: dict[str, tuple[dict[str, Any], str]] = {}
    conflicting: set[str] = set()
    paths = sorted(
        p for p in folder.iterdir() if p.name.endswith(KEY_FILE_SUFFIX) and not p.name.startswith(".")
    )
    for path in paths:
        try:
            keys = _read_file(path)
        except AttestationError as exc:
            problems.append(f"{path.name}: {exc.reason}")
            continue
        for jwk in keys:
            kid = str(jwk["kid"])
            seen = found.get(kid)
            if seen is None:
                found[kid] = (jwk, path.name)
            elif seen[0] != jwk:
                conflicting.add(kid)
                problems.append(f"{path.name}: key {kid!r} is also in {seen[1]} with different key material")
    keys = [jwk for kid, (jwk, _) in sorted(found.items()) if kid not in conflicting]
    jwks = {"keys": keys}
    KeySet.from_jwks(jwks)  # the published set as a verifier will read it
    return KeyScan(jwks=jwks, problems=tuple(problems), files=len(paths))


def collect_jwks(folder: Path) -> dict[str, Any]:
    """The JWKS of every key in ``folder``; :class:`AttestationError` naming each bad file (or no folder)."""
    scan = scan_keys(folder)
    if not scan.folder_exists:
        raise AttestationError(f"key folder {folder} does not exist", code="bad_jwks")
    if scan.problems:
        raise AttestationError(
            f"{len(scan.problems)} bad key file(s) in {folder}: " + "; ".join(scan.problems), code="bad_jwks"
        )
    return scan.jwks


def dump_jwks(jwks: Mapping[str, Any]) -> str:
    """The canonical text of a JWKS (sorted members, two-space indent, final newline)."""
    return json.dumps(jwks, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_jwks(path: Path, jwks: Mapping[str, Any]) -> None:
    """Write a JWKS atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dump_jwks(jwks))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
