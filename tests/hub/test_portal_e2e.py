"""The portal on the running network (``kruispunt up``), in a real headless Chromium.

A citizen logs in with username + password (level 200), asks "who consulted my data", is sent to the
upgrade step (that page needs 450), upgrades with itsme and sees the consultation an OCMW made of their data
in this test. Every page visited passes axe-core without serious or critical violations. A session can
never reach another person's consultations: the page takes no INSZ.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser import accessibility_violations, browser, page  # noqa: F401
from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import envelope

pytestmark = pytest.mark.slow

OCMW_GENT = "0212140186"


def _logins(network: RunningNetwork) -> list[tuple[str, str, str, str]]:
    lines = (network.data_dir / "examples" / "logins.txt").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def _consulted_by_an_ocmw(network: RunningNetwork, insz: str, people: list[dict[str, Any]]) -> None:
    person = next(p for p in people if p["insz"] == insz)
    registered = httpx.post(
        f"{network.hub}/directory/register",
        json={
            "institution": OCMW_GENT,
            "insz": insz,
            "capacity": 2,
            "period": {"start": "2025-01-01"},
            "proof": {"person_data": {"last_name": person["last_name"], "birth_date": person["birth_date"]}},
        },
        timeout=30,
    )
    assert registered.status_code == 200, registered.text
    answer = httpx.post(f"{network.hub}/hub/messages", json=envelope(ssin=insz), timeout=30)
    assert answer.status_code == 200, answer.text


def _accessible(tab: Any) -> None:
    problems = accessibility_violations(tab)
    assert problems == [], f"{tab.url}: {problems}"


def test_a_citizen_upgrades_to_see_who_consulted_their_data(
    network: RunningNetwork,
    people: list[dict[str, Any]],
    page: Any,  # noqa: F811
) -> None:
    portal = network.urls["portal"]
    username, password, insz, _name = _logins(network)[0]
    _consulted_by_an_ocmw(network, insz, people)

    page.goto(portal)
    _accessible(page)
    assert page.locator("main").count() == 1

    page.goto(f"{portal}/login")
    _accessible(page)
    page.locator("main a[href*='level=200']").first.click()
    _accessible(page)  # the identity provider's page
    page.fill("#username", username)
    page.fill("#password", password)
    page.locator("form:has(#username) button[type=submit]").click()
    page.wait_for_url(f"{portal}/**")

    page.goto(f"{portal}/citizen/who-consulted")
    assert "/login" in page.url
    assert "upgrade=450" in page.url
    _accessible(page)
    assert page.locator("main a[href*='level=200']").count() == 0  # a lower means is not offered
    page.locator("main a[href*='level=450']").first.click()
    page.select_option("#insz-itsme", insz)
    page.locator("form:has(#insz-itsme) button[type=submit]").click()
    page.wait_for_url(f"{portal}/citizen/who-consulted**")
    _accessible(page)
    table = page.locator("main table").inner_text()
    assert "OCMW Gent" in table or OCMW_GENT in table
    assert "family_composition" in table or "identify_person" in table


def test_a_forged_callback_is_refused(network: RunningNetwork, page: Any) -> None:  # noqa: F811
    portal = network.urls["portal"]
    page.goto(f"{portal}/auth/callback?code=forged&state=forged")
    assert page.locator("main").inner_text()
    response = httpx.get(f"{portal}/auth/callback", params={"code": "x", "state": "y"}, timeout=10)
    assert response.status_code == 401
    assert "log in again" in response.text
