"""Fixtures of the social-source tests: the hand-made files of :mod:`.data` loaded into fresh databases,
and a fake hub (its /directory routes as an httpx MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kruispunt.core.db import component_url
from kruispunt.sources.social.definitions import SourceDef, load_definitions
from kruispunt.sources.social.seed import seed_social

from .data import ROWS, WANTED


def components(definition: SourceDef) -> list[tuple[tuple[str, str | None], str]]:
    if definition.role == "members":
        return [((definition.name, kbo), definition.component(kbo)) for kbo in definition.institutions]
    return [((definition.name, None), definition.component())]


Urls = Callable[..., dict[tuple[str, str | None], str]]


def _factory(new_db: Callable[[str], str]) -> Urls:
    def make(*services: str, rows: list[dict[str, Any]] | None = None) -> dict[tuple[str, str | None], str]:
        defs = load_definitions()
        urls = {key: new_db(component) for name in services for key, component in components(defs[name])}
        seed_social(urls=urls, batches=[rows if rows is not None else ROWS], wanted=WANTED)
        return urls

    return make


@pytest.fixture
def social_urls(fresh_db: Callable[[str], str]) -> Urls:
    """Factory: fresh databases for the named services on each backend, loaded with :data:`ROWS`."""
    return _factory(fresh_db)


@pytest.fixture
def sqlite_urls(tmp_path: Path) -> Urls:
    """The same on SQLite only (for tests of HTTP behaviour rather than storage)."""
    return _factory(lambda component: component_url(None, tmp_path, component))


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


class FakeHub:
    """The hub's /directory routes as an httpx MockTransport: records calls, answers as told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        self.error_code = "PROOF_MISMATCH"
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append((request.url.path, body))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.status != 200:
            return httpx.Response(
                self.status, json={"error": {"code": self.error_code, "message": "refused by the test"}}
            )
        if request.url.path.endswith("/unregister"):
            return httpx.Response(200, json={"action": "UNREGISTER", "insz": body["insz"], "closed": []})
        return httpx.Response(200, json={"action": "REGISTER", "insz": body["insz"], "created": True})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


@pytest.fixture
def fake_hub() -> FakeHub:
    return FakeHub()
