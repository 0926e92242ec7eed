"""The repertory and mandate routes of the employers service, through HTTP (TestClient)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from kruispunt.employers import service
from kruispunt.employers.api import create_employers_app
from kruispunt.employers.seed import GENERAL_CATEGORY
from kruispunt.simulate.employers import generate_employers

SECRETARIAT = "0400378485"


@pytest.fixture
def client(fresh_db: Callable[[str], str]) -> Iterator[tuple[TestClient, str]]:
    app = create_employers_app(
        url=fresh_db("employers"), log_url=fresh_db("employers_log"), hub_url=None, rsz_url=None
    )
    employer = next(generate_employers(7, 3).records())
    with app.state.ctx.engine.begin() as conn:
        service.add_employers(
            conn,
            [
                {
                    "kbo": employer["kbo"],
                    "rsz": employer["rsz"],
                    "name": employer["name"],
                    "category": GENERAL_CATEGORY,
                    "joint_committee": employer["joint_committee"],
                    "nace": None,
                    "since": dt.date(2000, 1, 1),
                }
            ],
        )
    with TestClient(app) as c:
        yield c, employer["kbo"]


def test_employer_grants_lists_and_ends_a_mandate(client: tuple[TestClient, str]) -> None:
    c, kbo = client
    assert c.get(f"/employers/{kbo}").json()["kbo"] == kbo
    body = {"employer": kbo, "declarant": SECRETARIAT, "role": 11, "start": "2026-01-01"}
    granted = c.post("/mandates", json=body, headers={"x-kruispunt-declarant": kbo})
    assert granted.status_code == 201, granted.text
    mandate = granted.json()
    assert mandate["declarant_kbo"] == SECRETARIAT
    listed = c.get(f"/employers/{kbo}/mandates").json()["mandates"]
    assert [m["id"] for m in listed] == [mandate["id"]]
    ended = c.post(
        f"/mandates/{mandate['id']}/end", json={"end": "2026-06-30"}, headers={"x-kruispunt-declarant": kbo}
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["end"] == "2026-06-30"


def test_only_the_employer_grants_and_unknowns_are_404(client: tuple[TestClient, str]) -> None:
    c, kbo = client
    body = {"employer": kbo, "declarant": SECRETARIAT, "role": 11, "start": "2026-01-01"}
    refused = c.post("/mandates", json=body, headers={"x-kruispunt-declarant": SECRETARIAT})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "NOT_THE_EMPLOYER"
    assert c.post("/mandates", json=body).status_code == 400  # no declarant
    assert c.get("/employers/0403019261").status_code == 404
    assert c.get("/employers/12345").status_code == 400


@pytest.mark.parametrize("declarant", ["NUL", "ghRg0D%:1", "0171775760"])
def test_an_invalid_declarant_header_is_400_not_a_server_error(
    client: tuple[TestClient, str], declarant: str
) -> None:
    """Found by the OpenAPI fuzzing: the mandate and DRS routes answered 500 for a declarant that is not a
    KBO number (the refusal was raised, not turned into an answer)."""
    c, kbo = client
    headers = {"x-kruispunt-declarant": declarant}
    body = {"employer": kbo, "declarant": SECRETARIAT, "role": 11, "start": "2026-01-01"}
    answers = [
        c.post("/mandates", json=body, headers=headers),
        c.post("/mandates/1/end", json={"end": "2026-06-30"}, headers=headers),
        c.get("/drs/1", headers=headers),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "INVALID_DECLARANT"
