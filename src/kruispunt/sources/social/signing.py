"""The signing keys of the institutions that issue attestations, one ES256 key each.

The private key of institution ``kbo`` is ``<keys_dir>/<kbo>.pem`` (a private JWK, mode 0600, created on
first use by :func:`kruispunt.attest.load_or_create_signing_key`, kid ``<kbo>:1``); its public JWK is written
next to it as ``<keys_dir>/<kbo>.jwk.json``, from which the hub publishes the network's key set. A member of
a secondary network signs with its own key.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kruispunt.attest import SigningKey, load_or_create_signing_key, make_kid, public_jwks

KEY_SUFFIX = "1"


def private_key_path(keys_dir: Path, kbo: str) -> Path:
    return keys_dir / f"{kbo}.pem"


def public_key_path(keys_dir: Path, kbo: str) -> Path:
    return keys_dir / f"{kbo}.jwk.json"


def load_signing_key(keys_dir: Path, kbo: str) -> SigningKey:
    """The institution's key (created when missing), its public JWK written beside it (kept up to date)."""
    path = private_key_path(keys_dir, kbo)
    kid = make_kid(kbo, KEY_SUFFIX)
    try:
        key = load_or_create_signing_key(path, kid=kid)
    except FileExistsError:  # another process created it between the check and the create
        key = load_or_create_signing_key(path, kid=kid)
    public = public_key_path(keys_dir, kbo)
    jwk = key.public_jwk()
    try:
        current = json.loads(public.read_text("utf-8"))
    except (OSError, ValueError):
        current = None
    if current != jwk:
        tmp = public.with_name(f".{public.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(jwk, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        tmp.replace(public)
    return key


class KeyRing:
    """The keys of the institutions one service signs for, loaded once each (thread-safe)."""

    def __init__(self, keys_dir: Path | None, institutions: Iterable[str]) -> None:
        self.keys_dir = keys_dir
        self.institutions = tuple(institutions)
        self._keys: dict[str, SigningKey] = {}
        self._lock = threading.Lock()

    def key(self, kbo: str) -> SigningKey:
        if kbo not in self.institutions:
            raise KeyError(f"this service does not sign for {kbo}")
        if self.keys_dir is None:
            raise RuntimeError("no keys folder configured: this service cannot sign attestations")
        with self._lock:
            if kbo not in self._keys:
                self._keys[kbo] = load_signing_key(self.keys_dir, kbo)
            return self._keys[kbo]

    def load_all(self) -> None:
        for kbo in self.institutions:
            self.key(kbo)

    def jwks(self) -> dict[str, Any]:
        """The public keys of the institutions this service signs for (``{"keys": [...]}``)."""
        if self.keys_dir is None:
            return {"keys": []}
        return public_jwks(self.key(kbo) for kbo in self.institutions)


def published_jwks(keys_dir: Path | None, institutions: Iterable[str]) -> dict[str, Any]:
    """The public JWKs already written for ``institutions`` (a managing service publishes its members')."""
    keys: list[dict[str, Any]] = []
    if keys_dir is not None:
        for kbo in institutions:
            try:
                jwk = json.loads(public_key_path(keys_dir, kbo).read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(jwk, dict):
                keys.append({k: v for k, v in jwk.items() if k not in {"d", "p", "q", "dp", "dq", "qi"}})
    return {"keys": sorted(keys, key=lambda j: str(j.get("kid")))}
