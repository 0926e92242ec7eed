"""The five statistics applications in a real browser (headless Chromium): every page passes axe-core
without serious or critical violations, the form works without JavaScript, the permalink reproduces the
view, and the numbers shown are the PxWeb API's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kruispunt.warehouse.api import create_app
from tests.browser import accessibility_violations, browser, page, serving  # noqa: F401
from tests.warehouse.test_published import HIDDEN, publish_all

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    store = publish_all(tmp_path / "tables")
    with serving(create_app(tables_dir=store.folder)) as url:
        yield url


def test_every_application_page_is_accessible(site: str, page: Any) -> None:  # noqa: F811
    page.goto(f"{site}/apps")
    assert accessibility_violations(page) == []
    links = page.eval_on_selector_all("main a[href^='/apps/']", "els => els.map(e => e.getAttribute('href'))")
    assert links
    seen = 0
    for href in dict.fromkeys(links):
        page.goto(f"{site}{href}")
        assert page.title()
        problems = accessibility_violations(page)
        assert problems == [], f"{href}: {problems}"
        seen += 1
    assert seen >= 3


def test_the_form_the_permalink_and_the_api_agree(site: str, page: Any) -> None:  # noqa: F811
    tables = httpx.get(f"{site}/api/v2/tables", timeout=10).json()["tables"]
    first = tables[0]
    page.goto(f"{site}/apps/{first['subjectCode']}/{first['id']}")
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state()
    permalink = page.url
    shown = page.locator("main table").first.inner_text()
    assert str(HIDDEN) not in page.content()
    page.goto(permalink)
    assert page.locator("main table").first.inner_text() == shown
    data = httpx.get(f"{site}/api/v2/tables/{first['id']}/data", params={"outputFormat": "json-stat2"}).json()
    numbers = [v for v in data["value"] if v is not None]
    assert numbers
    assert any(f"{n:,}".replace(",", " ") in shown or str(n) in shown for n in numbers)
