"""The researchers' area over the real warehouse request API, served over HTTP: filing under the login's
identity, only one's own requests, the history, the reviewers' steps, the one download, clear 4xx pages."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.web import create_service_app
from kruispunt.portal.areas import AreaContext, area_routers
from kruispunt.portal.catalogue import LANGUAGES
from kruispunt.portal.roles import PortalRoles
from kruispunt.portal.web import DevelopmentLoginStub, create_app
from kruispunt.warehouse.requests_api import create_requests_router
from tests.browser import accessibility_violations, browser, page, serving  # noqa: F401
from tests.portal.test_web import check_page
from tests.trust.shared_ca import ksz, ksz_callers
from tests.warehouse.test_requests import PEOPLE, QUARTERS, write_snapshot

RESEARCHER = "85073003328"
OTHER = "75060898009"
REVIEWER = "93051822361"
REVIEWER_2 = "90022742191"
FORM = {
    "organisation": "KU Leuven",
    "purpose": "transitions from unemployment to work",
    "tier": "anonymous",
    "quarter": list(QUARTERS),
    "variable": ["sex", "region"],
    "age_min": "18",
    "region": ["BRU", "VLG"],
}


@dataclass
class World:
    warehouse: str
    data_dir: Path

    def portal(self, urls: dict[str, str] | None = None) -> TestClient:
        urls = urls if urls is not None else {"warehouse": self.warehouse}
        roles = PortalRoles(reviewers=frozenset({REVIEWER, REVIEWER_2}))
        ctx = AreaContext(service_urls=urls, data_dir=self.data_dir, roles=roles)
        app = create_app(
            service_urls=urls,
            idp=DevelopmentLoginStub(),
            routers=area_routers(ctx, modules=("researcher",)),
            signer=ksz(),
        )
        return TestClient(app)


@pytest.fixture
def world(fresh_db: Callable[[str], str], tmp_path: Path) -> Iterator[World]:
    """The warehouse's request routes on a migrated database and a small snapshot, over real HTTP."""
    url = fresh_db("warehouse")
    upgrade(url, "warehouse")
    engine = make_engine(url)
    write_snapshot(tmp_path / "snapshot", [f"c{i:04d}" for i in range(len(PEOPLE))])
    app = create_service_app(title="warehouse", description="test", max_body_bytes=1_000_000)
    app.include_router(
        create_requests_router(
            engine=engine,
            snapshot_dir=tmp_path / "snapshot",
            extracts_dir=tmp_path / "x",
            callers=ksz_callers("the research requests"),
        )
    )
    with serving(app) as base:
        yield World(base, tmp_path / "portal")
    engine.dispose()


def _log_in(client: TestClient, subject: str, level: int = 450) -> str:
    """Log in; the CSRF token of the new session."""
    client.get("/login/start", params={"level": level, "subject": subject, "next": "/"})
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert match
    return match.group(1)


def _file(client: TestClient, token: str, **changes: Any) -> int:
    answer = client.post(
        "/researcher/requests", data={**FORM, **changes, "csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/researcher/requests/(\d+)", answer.headers["location"])
    assert found
    return int(found.group(1))


def _step(client: TestClient, token: str, request_id: int, action: str, **form: str) -> Any:
    return client.post(
        f"/researcher/review/{request_id}/{action}",
        data={**form, "csrf_token": token},
        follow_redirects=False,
    )


def test_a_researcher_files_under_the_login_and_follows_the_request(world: World) -> None:
    with world.portal() as client:
        token = _log_in(client, RESEARCHER)
        page_ = client.get("/researcher/requests")
        assert page_.status_code == 200
        check_page(page_.text, "nl")
        assert 'name="researcher"' not in page_.text  # nobody types who they are
        request_id = _file(client, token)
        detail = client.get(f"/researcher/requests/{request_id}")
        assert detail.status_code == 200
        check_page(detail.text, "nl")
        assert "ingediend" in detail.text  # submitted, in Dutch
        assert RESEARCHER in detail.text  # the history's actor is the login's subject
        assert f"/researcher/requests/{request_id}" in client.get("/researcher/requests").text


def test_nobody_sees_another_researchers_request(world: World) -> None:
    with world.portal() as client:
        request_id = _file(client, _log_in(client, RESEARCHER))
    with world.portal() as client:
        token = _log_in(client, OTHER)
        assert f"/researcher/requests/{request_id}" not in client.get("/researcher/requests").text
        assert client.get(f"/researcher/requests/{request_id}").status_code == 404
        download = client.post(f"/researcher/requests/{request_id}/download", data={"csrf_token": token})
        assert download.status_code == 404
        assert "transitions from unemployment" not in download.text


def test_reviewers_move_a_request_and_the_researcher_downloads_it_once(world: World) -> None:
    with world.portal() as researcher, world.portal() as reviewer:
        r_token = _log_in(researcher, RESEARCHER)
        request_id = _file(researcher, r_token)
        v_token = _log_in(reviewer, REVIEWER)
        listed = reviewer.get("/researcher/review", params={"state": "submitted"})
        assert listed.status_code == 200
        check_page(listed.text, "nl")
        assert f"/researcher/review/{request_id}" in listed.text
        one = reviewer.get(f"/researcher/review/{request_id}")
        check_page(one.text, "nl")
        assert f'action="/researcher/review/{request_id}/review"' in one.text
        assert (
            _step(reviewer, v_token, request_id, "review", verdict="accept", notes="minimal").status_code
            == 303
        )
        assert _step(reviewer, v_token, request_id, "committee").status_code == 303
        decided = _step(
            reviewer,
            v_token,
            request_id,
            "decision",
            verdict="approve",
            deliberation="27/042",
            expires="2099-12-31",
        )
        assert decided.status_code == 303, decided.text
        assert _step(reviewer, v_token, request_id, "extract").status_code == 303
        # a step out of order is the warehouse's refusal, as a 409 page
        assert _step(reviewer, v_token, request_id, "committee").status_code == 409

        detail = researcher.get(f"/researcher/requests/{request_id}")
        assert f'action="/researcher/requests/{request_id}/download"' in detail.text
        assert "27/042" in detail.text
        got = researcher.post(f"/researcher/requests/{request_id}/download", data={"csrf_token": r_token})
        assert got.status_code == 200
        assert "attachment" in got.headers["content-disposition"]
        extract = pq.read_table(io.BytesIO(got.content))
        assert set(extract.column("quarter").to_pylist()) == set(QUARTERS)
        again = researcher.post(f"/researcher/requests/{request_id}/download", data={"csrf_token": r_token})
        assert again.status_code == 409
        assert "geleverd" in researcher.get(f"/researcher/requests/{request_id}").text  # delivered


def test_a_reviewer_cannot_review_their_own_request(world: World) -> None:
    with world.portal() as client:
        token = _log_in(client, REVIEWER)
        request_id = _file(client, token)
        assert "uw eigen aanvraag" in client.get(f"/researcher/review/{request_id}").text
        assert _step(client, token, request_id, "review", verdict="accept").status_code == 403


def test_only_reviewers_at_450_reach_the_review(world: World) -> None:
    with world.portal() as client:
        assert client.get("/researcher/review", follow_redirects=False).status_code == 303
        token = _log_in(client, REVIEWER, level=400)
        assert client.get("/researcher/review", follow_redirects=False).status_code == 303
        assert client.get("/researcher/requests", follow_redirects=False).status_code == 303
        token = _log_in(client, RESEARCHER)
        assert client.get("/researcher/review", follow_redirects=False).status_code == 403
        assert _step(client, token, 1, "review", verdict="accept").status_code == 403


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"organisation": ""}, 400),
        ({"variable": []}, 400),
        ({"variable": ["person_id"]}, 400),  # not offered, dropped: no variable left
        ({"quarter": ["2031Q1"]}, 400),
        ({"tier": "identified"}, 400),
        ({"age_min": "eighteen"}, 400),
        ({"age_min": "1000"}, 400),
    ],
)
def test_bad_input_is_a_clear_400_page(world: World, changes: dict[str, Any], status: int) -> None:
    with world.portal() as client:
        token = _log_in(client, RESEARCHER)
        answer = client.post("/researcher/requests", data={**FORM, **changes, "csrf_token": token})
        assert answer.status_code == status, answer.text
        check_page(answer.text, "nl")


def test_bad_numbers_and_a_missing_token_are_refused(world: World) -> None:
    with world.portal() as client:
        token = _log_in(client, REVIEWER)
        assert client.get("/researcher/requests", params={"open": "abc"}).status_code == 400
        opened = client.get("/researcher/requests", params={"open": "12"}, follow_redirects=False)
        assert opened.headers["location"] == "/researcher/requests/12"
        assert client.get("/researcher/requests/12").status_code == 404
        assert client.get("/researcher/requests/0").status_code == 400
        assert client.get(f"/researcher/requests/{2**70}").status_code == 400
        assert client.get("/researcher/review", params={"state": "lost"}).status_code == 400
        assert _step(client, token, 1, "approve-all").status_code == 404
        assert _step(client, token, 1, "decision", verdict="approve", expires="soon").status_code == 400
        assert client.post("/researcher/requests", data=FORM).status_code == 403  # no CSRF token


def test_the_statistics_applications_are_linked(world: World) -> None:
    with world.portal() as client:
        _log_in(client, RESEARCHER)
        html = client.get("/researcher/requests").text
    links = re.findall(r'href="([^"]+/apps/[^"]+)"', html)
    assert len(links) == 5
    assert all(link.startswith(world.warehouse) for link in links)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_pages_are_in_every_language(world: World, lang: str) -> None:
    with world.portal() as client:
        request_id = _file(client, _log_in(client, REVIEWER))
        for path in ("/researcher/requests", f"/researcher/requests/{request_id}", "/researcher/review"):
            answer = client.get(path, params={"lang": lang})
            assert answer.status_code == 200, path
            check_page(answer.text, lang)


def test_a_warehouse_that_does_not_answer_is_a_503_page(world: World) -> None:
    with world.portal({"warehouse": "http://127.0.0.1:9"}) as client:
        _log_in(client, RESEARCHER)
        assert client.get("/researcher/requests").status_code == 503


def test_the_pages_pass_axe_in_a_browser(world: World, page: Any) -> None:  # noqa: F811
    roles = PortalRoles(reviewers=frozenset({REVIEWER}))
    urls = {"warehouse": world.warehouse}
    ctx = AreaContext(service_urls=urls, data_dir=world.data_dir, roles=roles)
    app = create_app(
        service_urls=urls,
        idp=DevelopmentLoginStub(),
        routers=area_routers(ctx, modules=("researcher",)),
        signer=ksz(),
    )
    with serving(app) as portal:
        page.goto(f"{portal}/login/start?level=450&subject={RESEARCHER}&next=/researcher/requests")
        assert accessibility_violations(page) == []
        page.fill("#organisation", "KU Leuven")
        page.fill("#purpose", "transitions")
        page.check("#variable-sex")
        if page.locator("#quarters_typed").count():  # the test warehouse has no loads route
            page.fill("#quarters_typed", QUARTERS[0])
        page.locator("form[method=post][action='/researcher/requests'] button[type=submit]").click()
        assert re.search(r"/researcher/requests/\d+$", page.url)
        assert accessibility_violations(page) == []
