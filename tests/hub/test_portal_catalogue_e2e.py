"""Every page of the portal's catalogue, on the running network (``kruispunt up``), in a real Chromium.

The issue's "done when": the portal opens on the home page with the catalogue; every service in the
catalogue is reachable from it (its description page, linked from the home page, and its own page); no page
has an accessibility violation of the serious or critical kind. The logged-in pages are visited as the
network operator at level 500 (eID), the strongest means: pages for a role the operator does not hold (the
reviewer's, an enterprise's) answer with their refusal page, which must be accessible too. No page answers
with a server error.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from kruispunt.portal.catalogue import load_catalogue
from tests.browser import accessibility_violations, browser, page  # noqa: F401
from tests.hub.network_fixture import RunningNetwork

pytestmark = pytest.mark.slow

CATALOGUE = load_catalogue()


def _operator(network: RunningNetwork) -> str:
    text = (network.data_dir / "examples" / "logins.txt").read_text(encoding="utf-8")
    named = re.search(r"network operator: (\S+);", text)
    assert named, text[:300]
    for line in text.splitlines():
        if line and not line.startswith("#") and line.split("\t")[0] == named.group(1):
            return line.split("\t")[2]
    raise AssertionError("the operator has no login line")


def _visit(tab: Any, url: str) -> int:
    response = tab.goto(url)
    assert response is not None, url
    problems = accessibility_violations(tab)
    assert problems == [], f"{url}: {problems}"
    assert tab.locator("main h1").count() == 1, url
    return int(response.status)


def test_every_catalogue_page_is_reachable_and_accessible(
    network: RunningNetwork,
    page: Any,  # noqa: F811
) -> None:
    portal = network.urls["portal"]
    assert _visit(page, portal) == 200
    listed = {a.get_attribute("href") for a in page.locator("main a").all()}
    for service in CATALOGUE.services:
        assert f"/services/{service.id}" in listed, f"{service.id} is not linked from the home page"
        assert _visit(page, f"{portal}/services/{service.id}") == 200
    for lang in ("fr", "en"):
        assert _visit(page, f"{portal}/?lang={lang}") == 200

    # the strongest login, as the network operator (eID, level 500)
    page.goto(f"{portal}/login")
    page.locator("main a[href*='level=500']").first.click()
    page.select_option("#insz-eid", _operator(network))
    page.locator("form:has(#insz-eid) button[type=submit]").click()
    page.wait_for_url(f"{portal}/**")

    statuses = {}
    for service in CATALOGUE.services:
        statuses[service.id] = _visit(page, f"{portal}{service.path}")
    assert all(status < 500 for status in statuses.values()), statuses
    citizen = [s.id for s in CATALOGUE.services if s.audience == ("citizen",)]
    assert citizen
    assert all(statuses[s] == 200 for s in citizen), statuses
    assert statuses["network-operations"] == 200
    assert statuses["research-requests"] == 200
    assert all(statuses[s.id] == 200 for s in CATALOGUE.services if s.public), statuses
