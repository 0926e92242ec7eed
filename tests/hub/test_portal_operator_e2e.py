"""The operators' and researchers' areas of the portal on the running network (``kruispunt up``).

The logins go through the development identity provider over plain HTTP (its itsme form, level 450): the
operator named in ``logins.txt`` sees the live view with the exchange this test made, the change delivery
and the deliberations in force; a citizen is refused it. A researcher files a request under their own login
and the reviewer named in ``logins.txt`` finds it in the review. In a real Chromium (when installed) the
same pages pass axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from tests.browser import accessibility_violations, browser, page  # noqa: F401
from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import envelope

pytestmark = pytest.mark.slow


def _logins(network: RunningNetwork) -> tuple[dict[str, str], str, str]:
    """username → INSZ, and the operator's and the reviewer's usernames (from the comment line)."""
    text = (network.data_dir / "examples" / "logins.txt").read_text(encoding="utf-8")
    named = re.search(r"network operator: (\S+); reviewer of research requests: (\S+)", text)
    assert named, text[:300]
    people = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            username, _password, insz, _name = line.split("\t")
            people[username] = insz
    return people, named.group(1), named.group(2)


class _Forms(HTMLParser):
    """The identity provider's login forms: action and hidden fields per means."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"_action": a.get("action", "")})
        elif tag == "input" and a.get("type") == "hidden" and self.forms:
            self.forms[-1][a.get("name", "")] = a.get("value", "")


@contextmanager
def _itsme(portal: str, insz: str, next_path: str) -> Iterator[httpx.Client]:
    """A client logged in to the portal at level 450 with the development itsme."""
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        yield _log_in(client, portal, insz, next_path)


def _log_in(client: httpx.Client, portal: str, insz: str, next_path: str) -> httpx.Client:
    login = client.get(f"{portal}/login/start", params={"level": 450, "next": next_path})
    assert login.status_code == 200, login.text
    parser = _Forms()
    parser.feed(login.text)
    form = next(f for f in parser.forms if f.get("means") == "itsme")
    action = str(login.url.join(form.pop("_action")))
    landed = client.post(action, data={**form, "insz": insz})
    assert landed.status_code == 200, landed.text[:500]
    assert landed.url.path == next_path, landed.url
    return client


def test_operators_see_the_live_view_and_nobody_else(network: RunningNetwork) -> None:
    portal = network.urls["portal"]
    people, operator, _reviewer = _logins(network)
    citizen = next(insz for name, insz in people.items() if name not in (operator, _reviewer))
    sent = httpx.post(f"{network.hub}/hub/messages", json=envelope(ssin=citizen), timeout=30)
    assert sent.status_code < 500, sent.text  # answered or refused: logged either way

    with _itsme(portal, people[operator], "/operator/network") as client:
        view = client.get(f"{portal}/operator/network", params={"minutes": 15, "lang": "en"})
        assert view.status_code == 200
        html = view.text
        total = re.search(r"<th scope=\"row\">Messages</th><td>(\d+)</td>", html)
        assert total, html[:2000]
        assert int(total.group(1)) >= 1
        assert "This source did not answer" not in html  # hub, log, mutations all answered
        in_force = re.search(r"Deliberations in force today \((\d+)\)", html)
        assert in_force
        assert int(in_force.group(1)) > 0
        assert "Delivery per recipient" in html or "No recipients of changes" in html
        assert 'href="/operator/network?minutes=15"' in html
        assert "http-equiv" not in html
        assert citizen not in html

    with _itsme(portal, citizen, "/") as client:
        assert client.get(f"{portal}/operator/network").status_code == 403


def test_a_researcher_files_and_the_reviewer_finds_the_request(network: RunningNetwork) -> None:
    portal = network.urls["portal"]
    people, operator, reviewer = _logins(network)
    researcher = next(insz for name, insz in people.items() if name not in (operator, reviewer))
    quarters = httpx.get(f"{network.urls['warehouse']}/warehouse/loads", timeout=30).json()["quarters"]
    assert quarters

    with _itsme(portal, researcher, "/researcher/requests") as client:
        page_ = client.get(f"{portal}/researcher/requests")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page_.text)
        assert token
        assert len(re.findall(r'href="[^"]+/apps/[^"]+"', page_.text)) == 5
        filed = client.post(
            f"{portal}/researcher/requests",
            data={
                "csrf_token": token.group(1),
                "organisation": "UGent",
                "purpose": "e2e: the portal files under the login",
                "tier": "anonymous",
                "quarter": quarters[-1],
                "variable": ["sex", "region"],
            },
        )
        assert filed.status_code == 200, filed.text[:1000]
        number = re.fullmatch(r"/researcher/requests/(\d+)", filed.url.path)
        assert number
        assert researcher in filed.text  # the history's actor: the login, not a typed name
        request_id = int(number.group(1))

    with _itsme(portal, people[reviewer], "/researcher/review") as client:
        listed = client.get(f"{portal}/researcher/review", params={"state": "submitted"})
        assert listed.status_code == 200
        assert f"/researcher/review/{request_id}" in listed.text

    with _itsme(portal, people[operator], "/") as client:
        assert client.get(f"{portal}/researcher/requests/{request_id}").status_code == 404  # not theirs
        assert client.get(f"{portal}/researcher/review").status_code == 403


def test_the_pages_pass_axe_in_chromium(network: RunningNetwork, page: Any) -> None:  # noqa: F811
    portal = network.urls["portal"]
    people, operator, _reviewer = _logins(network)
    page.goto(f"{portal}/login/start?level=450&next=/operator/network")
    page.select_option("#insz-itsme", people[operator])
    page.locator("form:has(#insz-itsme) button[type=submit]").click()
    page.wait_for_url(f"{portal}/operator/network**")
    assert accessibility_violations(page) == []
    page.goto(f"{portal}/researcher/requests")
    assert accessibility_violations(page) == []
