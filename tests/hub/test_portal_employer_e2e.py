"""The portal's employer area on the running network (``kruispunt up``), in a real headless Chromium.

``up`` makes two development logins legal representatives: one of an employer of the seeded repertory, one
of an enterprise that acts as a social secretariat. The employer's representative logs in with itsme,
appoints themself main access manager, grants themself the Dimona role, declares a Dimona and sees it
accepted by the employers service. The secretariat, with no mandate from that employer, is refused with a
clear message, logged, and is shown nothing of the employer; once the employer gives the mandate in the
portal, the secretariat's Dimona for its client is accepted. Every page passes axe-core.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.browser import accessibility_violations, browser, page  # noqa: F401
from tests.hub.network_fixture import RunningNetwork

pytestmark = pytest.mark.slow

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def _representatives(network: RunningNetwork) -> dict[str, tuple[str, str]]:
    """``employer`` / ``secretariat`` → (KBO, INSZ of its legal representative), from ``logins.txt``."""
    lines = (network.data_dir / "examples" / "logins.txt").read_text(encoding="utf-8").splitlines()
    inszs = {f[0]: f[2] for f in (line.split("\t") for line in lines if line and not line.startswith("#"))}
    found = {}
    for line in lines:
        match = re.match(r"# legal representative of (employer|social secretariat) (\d{10}): (\S+)", line)
        if match:
            kind = "employer" if match.group(1) == "employer" else "secretariat"
            found[kind] = (match.group(2), inszs[match.group(3)])
    assert set(found) == {"employer", "secretariat"}, lines[:5]
    return found


def _accessible(tab: Any) -> None:
    problems = accessibility_violations(tab)
    assert problems == [], f"{tab.url}: {problems}"


def _log_in_with_itsme(tab: Any, portal: str, insz: str, next_path: str) -> None:
    tab.goto(f"{portal}/login?next={next_path}")
    tab.locator("main a[href*='level=450']").first.click()
    tab.select_option("#insz-itsme", insz)
    tab.locator("form:has(#insz-itsme) button[type=submit]").click()
    tab.wait_for_url(f"{portal}{next_path}**")


def _become_main_manager_with_dimona(tab: Any, insz: str) -> None:
    """A legal representative appoints themself main access manager, then grants themself the Dimona role."""
    tab.fill("#main-insz", insz)
    tab.locator("form:has(#main-insz) button[type=submit]").click()
    tab.wait_for_url("**/employer/access?done=manager")
    assert tab.locator("[role=status]").count() == 1
    tab.fill("#role-insz", insz)
    tab.select_option("#role-role", "dimona")
    tab.locator("form:has(#role-insz) button[type=submit]").click()
    tab.wait_for_url("**/employer/access?done=role")
    roles = tab.locator("main table").nth(1).inner_text()
    assert insz in roles
    assert "Dimona" in roles
    _accessible(tab)


def _declare_dimona(tab: Any, portal: str, employer: str, worker: str) -> None:
    tab.goto(f"{portal}/employer/dimona")
    _accessible(tab)
    tab.fill("#in-employer", employer)
    tab.fill("#in-insz", worker)
    tab.fill("#in-start", TOMORROW)
    tab.locator("form:has(#in-insz) button[type=submit]").click()
    tab.locator("[role=status], [role=alert], h1:has-text('Geen toegang')").first.wait_for()


def test_an_employer_declares_a_dimona_and_a_secretariat_needs_its_mandate(
    network: RunningNetwork,
    people: list[dict[str, Any]],
    browser: Any,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    portal = network.urls["portal"]
    reps = _representatives(network)
    employer, employer_rep = reps["employer"]
    secretariat, secretariat_rep = reps["secretariat"]
    workers = [p["insz"] for p in people if not p["is_bis"] and p["death_date"] is None][100:102]

    # the employer: access management, then a Dimona accepted
    _log_in_with_itsme(page, portal, employer_rep, "/employer/access")
    _accessible(page)
    assert employer in page.locator("main").inner_text()
    _become_main_manager_with_dimona(page, employer_rep)
    _declare_dimona(page, portal, employer, workers[0])
    assert "Aanvaard" in page.locator("[role=status]").inner_text()
    assert re.fullmatch(r"\d{12}", page.locator("#period-id").inner_text())
    _accessible(page)

    # the secretariat, in its own browser: no mandate from that employer yet
    context = browser.new_context(bypass_csp=True, locale="nl-BE")
    other = context.new_page()
    other.set_default_timeout(15_000)
    try:
        _log_in_with_itsme(other, portal, secretariat_rep, "/employer/access")
        _become_main_manager_with_dimona(other, secretariat_rep)
        _declare_dimona(other, portal, employer, workers[1])
        refusal = other.locator("main").inner_text()
        assert "geen mandaat" in refusal
        assert secretariat in refusal
        assert employer in refusal
        assert workers[1] not in refusal
        assert workers[0] not in refusal
        _accessible(other)

        # the employer's legal representative gives the mandate; the secretariat's Dimona is accepted
        page.goto(f"{portal}/employer/access")
        page.fill("#mandate-declarant", secretariat)
        page.locator("form:has(#mandate-declarant) button[type=submit]").click()
        page.wait_for_url("**/employer/access?done=mandate")
        assert secretariat in page.locator("main table").nth(2).inner_text()
        _accessible(page)
        _declare_dimona(other, portal, employer, workers[1])
        assert "Aanvaard" in other.locator("[role=status]").inner_text()
        other.goto(f"{portal}/employer/notifications")
        assert "DIMONA" in other.locator("main table").inner_text()
        _accessible(other)
    finally:
        context.close()

    # the refusal is in the portal's log of the secretariat
    engine = create_engine(f"sqlite:///{network.data_dir / 'portal' / 'portal.db'}")
    with engine.connect() as conn:
        refused = conn.execute(
            text(
                "SELECT actor, action FROM access_event WHERE outcome = 'refused' AND enterprise_kbo = :kbo"
            ),
            {"kbo": secretariat},
        ).all()
    engine.dispose()
    assert [(r.actor, r.action) for r in refused] == [(secretariat_rep, "dimona")]
