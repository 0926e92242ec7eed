"""Browser fixtures (the portal, the warehouse's applications): Debian's Chromium driven by Playwright,
axe-core for accessibility, and a helper that serves an ASGI app on a free local port.

`make test` installs both when missing (the `browser` target). When Chromium or axe-core is not there the
browser tests are skipped with a reason that says so; `.ci/run` sets ``KRUISPUNT_REQUIRE_BROWSER=1`` so
that in CI a missing browser fails instead. Each browser test leaves a screenshot in
``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("KRUISPUNT_CHROMIUM", "/usr/bin/chromium"))
AXE = REPO_ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
# Chromium on a closed network: no background connections, no first-run work, a fresh profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (make browser installs Debian's chromium)"
    if not AXE.exists():
        return f"no axe-core at {AXE} (make browser installs it)"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium for one test, stopped after it: Playwright's sync API runs an event loop in the
    calling thread while it is open, and the other tests' ``asyncio.run`` must find none."""
    reason = _missing()
    if reason:
        if os.environ.get("KRUISPUNT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page; a screenshot of the last page is kept as a test artefact.

    ``bypass_csp`` lets the tests inject axe-core into pages whose Content-Security-Policy forbids scripts.
    """
    context = browser.new_context(bypass_csp=True, locale="nl-BE")
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()


def accessibility_violations(tab: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """The axe-core violations of the page in ``tab`` with one of ``impacts``, as readable lines."""
    tab.add_script_tag(path=str(AXE))
    found = tab.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'best-practice']})).violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in impacts
    ]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free port of 127.0.0.1 in a thread; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
