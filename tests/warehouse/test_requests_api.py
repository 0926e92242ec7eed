"""The research request routes, with the trusted third party reached over its own HTTP API: the whole path
from filing to the one download, every refusal a clear 4xx, the history only for its researcher."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from kruispunt.coding import service as ttp
from kruispunt.coding.api import create_app as create_ttp_app
from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.web import create_service_app
from kruispunt.ids import is_valid_insz
from kruispunt.warehouse import requests_api
from kruispunt.warehouse.requests_api import create_requests_router, http_recoder
from kruispunt.warehouse.schemas import PROJECT
from tests.trust.shared_ca import institution, ksz_callers, signed_for
from tests.warehouse.test_requests import PEOPLE, QUARTERS, REQUEST, strings_of, write_snapshot

TODAY = dt.date(2027, 3, 1)
RESEARCHER = signed_for("researcher:r.peeters")
REVIEWER = signed_for("reviewer:cbss.janssens")


@dataclass
class Apps:
    warehouse: TestClient
    ttp: TestClient
    dwh_codes: list[str]
    clock: list[dt.date]
    engine: Engine
    extracts: Path


@pytest.fixture
def apps(fresh_db: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Apps]:
    monkeypatch.delenv(ttp.KEY_DIR_ENV, raising=False)
    url = fresh_db("warehouse")
    upgrade(url, "warehouse")
    engine = make_engine(url)
    with TestClient(create_ttp_app(database_url=fresh_db("coding"), callers=None)) as ttp_client:
        assert ttp_client.post("/projects", json={"project": PROJECT, "purpose": "dwh"}).status_code == 201
        dwh_codes = ttp_client.post(f"/projects/{PROJECT}/codes", json={"inszs": PEOPLE}).json()["codes"]
        write_snapshot(tmp_path / "snapshot", dwh_codes)
        clock = [TODAY]
        app = create_service_app(title="warehouse", description="test", max_body_bytes=1_000_000)
        app.include_router(
            create_requests_router(
                engine=engine,
                snapshot_dir=tmp_path / "snapshot",
                extracts_dir=tmp_path / "extracts",
                callers=ksz_callers("the research requests"),
                recoder=http_recoder(ttp_client),
                today=lambda: clock[0],
            )
        )
        with TestClient(app) as client:
            yield Apps(client, ttp_client, dwh_codes, clock, engine, tmp_path / "extracts")
    engine.dispose()


BODY = {k: v for k, v in REQUEST.items() if k != "researcher"}


def _file(apps: Apps, **changes: Any) -> int:
    answer = apps.warehouse.post("/research/requests", json={**BODY, **changes}, auth=RESEARCHER)
    assert answer.status_code == 201, answer.text
    request_id: int = answer.json()["id"]
    return request_id


def _authorise(apps: Apps, request_id: int, expires: str = "2027-12-31") -> None:
    base = f"/research/requests/{request_id}"
    for path, body in (
        ("review", {"accepted": True, "notes": "minimal"}),
        ("committee", {}),
        ("decision", {"approved": True, "deliberation": "27/042", "conditions": "none", "expires": expires}),
    ):
        answer = apps.warehouse.post(f"{base}/{path}", json=body, auth=REVIEWER)
        assert answer.status_code == 200, answer.text


def test_from_filing_to_the_one_download(apps: Apps, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests_api, "RECODE_BATCH", 7)  # several calls to the TTP
    request_id = _file(apps)
    _authorise(apps, request_id)
    produced = apps.warehouse.post(f"/research/requests/{request_id}/extract", auth=REVIEWER)
    assert produced.status_code == 200, produced.text
    download = apps.warehouse.get(f"/research/requests/{request_id}/extract", auth=RESEARCHER)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/vnd.apache.parquet"
    extract = pq.read_table(io.BytesIO(download.content))
    persons = set(extract.column("person_id").to_pylist())
    assert set(extract.column("quarter").to_pylist()) == set(QUARTERS)
    assert not persons & set(apps.dwh_codes)
    assert not any(re.fullmatch(r"\d{11}", v) or is_valid_insz(v) for v in strings_of(extract))
    # the codes are those the TTP gives the same persons in the request's project
    project = apps.warehouse.get(f"/research/requests/{request_id}", auth=RESEARCHER).json()["project"]
    again = apps.ttp.post(
        f"/projects/{project}/recode", json={"from_project": PROJECT, "codes": apps.dwh_codes}
    )
    assert persons <= set(again.json()["codes"])
    twice = apps.warehouse.get(f"/research/requests/{request_id}/extract", auth=RESEARCHER)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "ALREADY_DELIVERED"
    steps = apps.warehouse.get(f"/research/requests/{request_id}/history", auth=RESEARCHER).json()["steps"]
    assert [s["action"] for s in steps] == [
        "file",
        "accept",
        "submit_to_committee",
        "authorise",
        "extract",
        "coded",
        "deliver",
    ]
    apps.clock[0] = dt.date(2028, 1, 1)
    assert apps.warehouse.post("/research/expire", auth=REVIEWER).json() == {"destroyed": [request_id]}


def test_anonymous_download_is_k_anonymous(apps: Apps) -> None:
    request_id = _file(apps, tier="anonymous", population={}, variables=["sex", "age", "region"])
    _authorise(apps, request_id)
    assert apps.warehouse.post(f"/research/requests/{request_id}/extract", auth=REVIEWER).status_code == 200
    extract = pq.read_table(
        io.BytesIO(apps.warehouse.get(f"/research/requests/{request_id}/extract", auth=RESEARCHER).content)
    )
    assert "person_id" not in extract.column_names
    sizes = extract.group_by(extract.column_names).aggregate([([], "count_all")])
    assert min(sizes.column("count_all").to_pylist()) >= 5


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"variables": ["income"]}, "UNKNOWN_VARIABLE"),
        ({"variables": ["person_id"]}, "IDENTIFIER_REQUESTED"),
        ({"quarters": ["2020Q1"]}, "UNKNOWN_QUARTER"),
        ({"tier": "non-coded"}, "INVALID_TIER"),
        ({"population": {"age_min": "18"}}, "INVALID_POPULATION"),
        ({"variables": "sex"}, "INVALID_REQUEST"),
        ({"organisation": ""}, "INVALID_REQUEST"),
    ],
)
def test_a_malformed_request_is_a_clear_422(apps: Apps, body: dict[str, Any], code: str) -> None:
    answer = apps.warehouse.post("/research/requests", json={**BODY, **body}, auth=RESEARCHER)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


def test_refusals_are_clear_and_never_a_500(apps: Apps) -> None:
    unsigned = apps.warehouse.post("/research/requests", json=BODY, headers={"X-Researcher": "r.peeters"})
    assert (unsigned.status_code, unsigned.json()["error"]["code"]) == (401, "UNSIGNED")
    request_id = _file(apps)
    base = f"/research/requests/{request_id}"
    early = apps.warehouse.post(
        f"{base}/decision",
        json={"approved": True, "deliberation": "1", "expires": "2028-01-01"},
        auth=REVIEWER,
    )
    assert (early.status_code, early.json()["error"]["code"]) == (409, "WRONG_STATE")
    self_review = apps.warehouse.post(
        f"{base}/review", json={"accepted": True}, auth=signed_for("reviewer:r.peeters")
    )
    assert self_review.status_code == 403
    for path in (
        "/research/requests/0/history",
        f"/research/requests/{2**63}/history",
        "/research/requests/x/history",
    ):
        assert apps.warehouse.get(path, auth=RESEARCHER).status_code == 422
    missing = apps.warehouse.get("/research/requests/9999/history", auth=RESEARCHER)
    assert missing.status_code == 404
    other = apps.warehouse.get(f"{base}/history", auth=signed_for("researcher:someone.else"))
    assert (other.status_code, other.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert apps.warehouse.get(base, auth=signed_for("researcher:someone.else")).status_code == 404
    assert apps.warehouse.get(base, auth=RESEARCHER).json()["state"] == "submitted"
    not_yet = apps.warehouse.get(f"{base}/extract", auth=RESEARCHER)
    assert (not_yet.status_code, not_yet.json()["error"]["code"]) == (409, "WRONG_STATE")


def test_an_expired_authorisation_delivers_nothing(apps: Apps) -> None:
    request_id = _file(apps)
    _authorise(apps, request_id, expires="2027-06-30")
    assert apps.warehouse.post(f"/research/requests/{request_id}/extract", auth=REVIEWER).status_code == 200
    apps.clock[0] = dt.date(2027, 7, 1)
    late = apps.warehouse.get(f"/research/requests/{request_id}/extract", auth=RESEARCHER)
    assert (late.status_code, late.json()["error"]["code"]) == (410, "APPROVAL_EXPIRED")
    other = apps.warehouse.get(f"/research/requests/{request_id}/extract", auth=signed_for("researcher:x"))
    assert other.status_code == 404


# ------------------------------------------------------------------------------------------- review fixes


def test_an_empty_or_unknown_role_reads_no_other_researchers_request(apps: Apps) -> None:
    base = f"/research/requests/{_file(apps)}"
    for subject in ("reviewer:", "someone.else", "operator:someone.else", "reviewer" + ":x" * 40):
        answer = apps.warehouse.get(base, auth=signed_for(subject))
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "BAD_SUBJECT"), subject
        assert "purpose" not in answer.text


def test_a_researcher_cannot_take_a_reviewers_step(apps: Apps) -> None:
    base = f"/research/requests/{_file(apps)}"
    answer = apps.warehouse.post(f"{base}/review", json={"accepted": True}, auth=signed_for("researcher:x"))
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "WRONG_ROLE")
    assert apps.warehouse.get(base, auth=REVIEWER).json()["state"] == "submitted"


def test_only_the_ksz_signs_for_a_researcher(apps: Apps) -> None:
    other = institution("0212140186", "OCMW Gent")
    answer = apps.warehouse.post(
        "/research/requests", json=BODY, auth=signed_for("researcher:r.peeters", other)
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "CALLER_NOT_ALLOWED")
    assert apps.warehouse.get("/research/requests", auth=REVIEWER).json()["requests"] == []


def test_a_failed_commit_leaves_no_extract_on_disk(apps: Apps) -> None:
    request_id = _file(apps)
    _authorise(apps, request_id)

    def refuse_commit(conn: Any) -> None:
        raise RuntimeError("the database went away at commit")

    event.listen(apps.engine, "commit", refuse_commit)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            apps.warehouse.post(f"/research/requests/{request_id}/extract", auth=REVIEWER)
    finally:
        event.remove(apps.engine, "commit", refuse_commit)
    assert not apps.extracts.exists() or not list(apps.extracts.iterdir())
    assert apps.warehouse.get(f"/research/requests/{request_id}", auth=RESEARCHER).json()["state"] == (
        "authorised"
    )
    again = apps.warehouse.post(f"/research/requests/{request_id}/extract", auth=REVIEWER)
    assert again.status_code == 200, again.text
    assert again.json()["file"] == f"request-{request_id}.parquet"
    download = apps.warehouse.get(f"/research/requests/{request_id}/extract", auth=RESEARCHER)
    assert download.headers["content-disposition"] == f'attachment; filename="request-{request_id}.parquet"'
    assert len(list(apps.extracts.iterdir())) == 1


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"codes": "abc"}),
    ],
)
def test_a_bad_ttp_answer_is_a_refusal_not_a_500(reply: httpx.Response) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/projects":
            return httpx.Response(201, json={"project": "p"})
        return reply

    recode = http_recoder(httpx.Client(transport=httpx.MockTransport(answer), base_url="http://ttp"))("p")
    with pytest.raises(requests_api.requests.RequestError) as refused:
        recode(["a", "b", "c"])
    assert refused.value.code == "TTP_FAILED"


def test_a_leftover_project_at_the_ttp_does_not_give_its_codes_to_a_new_request(apps: Apps) -> None:
    """A warehouse database started afresh hands out request 1 again; the TTP still has the earlier
    ``req-1`` project: the new request must not get that project's codes (they link to the old extract)."""
    old = apps.ttp.post("/projects", json={"project": "req-1", "purpose": "an earlier warehouse"})
    assert old.status_code == 201
    old_codes = set(
        apps.ttp.post(
            "/projects/req-1/recode", json={"from_project": PROJECT, "codes": apps.dwh_codes}
        ).json()["codes"]
    )
    request_id = _file(apps)
    assert request_id == 1
    _authorise(apps, request_id)
    assert apps.warehouse.post(f"/research/requests/{request_id}/extract", auth=REVIEWER).status_code == 200
    download = apps.warehouse.get(f"/research/requests/{request_id}/extract", auth=RESEARCHER)
    persons = set(pq.read_table(io.BytesIO(download.content)).column("person_id").to_pylist())
    assert persons
    assert not persons & old_codes


def test_the_list_gives_a_researcher_their_own_requests_and_a_reviewer_all(apps: Apps) -> None:
    mine = _file(apps)
    answer = apps.warehouse.post("/research/requests", json=BODY, auth=signed_for("researcher:a.dubois"))
    theirs = answer.json()["id"]
    client = apps.warehouse
    own = client.get("/research/requests", auth=RESEARCHER).json()["requests"]
    assert [r["id"] for r in own] == [mine]
    every = client.get("/research/requests", auth=REVIEWER).json()["requests"]
    assert [r["id"] for r in every] == [theirs, mine]
    submitted = client.get("/research/requests?state=submitted", auth=REVIEWER).json()
    assert len(submitted["requests"]) == 2
    assert client.get("/research/requests?state=reviewed", auth=REVIEWER).json()["requests"] == []
    assert client.get("/research/requests").status_code == 401
    assert client.get("/research/requests?state=DROP%20TABLE", auth=REVIEWER).status_code == 422
    steps = client.get(f"/research/requests/{theirs}/history", auth=REVIEWER).json()
    assert steps["steps"][0]["to_state"] == "submitted"
    assert client.get(f"/research/requests/{theirs}/history", auth=RESEARCHER).status_code == 404
