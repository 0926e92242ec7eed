"""A person's career (Dimona employments, DmfA quarters) over HTTP, for the KSZ's portal only (SQLite and
PostgreSQL): the declared data of that person and nobody else's, refusals as JSON, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from kruispunt.employers import dmfa, service
from kruispunt.employers.api import create_employers_app
from kruispunt.employers.career_api import KSZ
from kruispunt.employers.models import dimona_period_table, dmfa_declaration_table
from tests.employers.test_dmfa import QUARTER, TODAY, dimona_rows, employer_rows, form, inszs

KSZ_HEADERS = {"X-Kruispunt-Requester": KSZ}


@dataclass
class Career:
    client: TestClient
    employers: list[dict[str, Any]]
    workers: list[str]
    app: Any

    def declare_dmfa(self, employer: dict[str, Any], workers: list[str]) -> list[dict[str, Any]]:
        persons = list(dmfa.synthetic_persons(workers, quarter=QUARTER))
        answer = self.client.post(
            "/dmfa", json=form(employer, persons), headers={"X-Kruispunt-Declarant": employer["kbo"]}
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["declarations"][0]["result"] in ("A", "W"), answer.text
        return persons


@pytest.fixture
def career(fresh_db: Callable[[str], str]) -> Iterator[Career]:
    app = create_employers_app(
        url=fresh_db("employers"), log_url=None, hub_url=None, rsz_url=None, deliver=False
    )
    ctx = app.state.ctx
    ctx.today = lambda: TODAY
    rows = employer_rows(3)
    workers = inszs(4)
    with ctx.engine.begin() as conn:
        service.add_employers(conn, rows)
        conn.execute(insert(dimona_period_table), dimona_rows(rows[0]["kbo"], workers))
        conn.execute(
            insert(dimona_period_table),
            dimona_rows(rows[1]["kbo"], workers[:1], first=100, worker_type="STU", joint_committee="302"),
        )
        conn.execute(
            insert(dimona_period_table), dimona_rows(rows[2]["kbo"], workers[:1], first=200, cancelled=True)
        )
    with TestClient(app) as client:
        yield Career(client, rows, workers, app)


def test_only_the_ksz_may_read_a_whole_career(career: Career) -> None:
    insz = career.workers[0]
    for headers in (
        {},
        {"X-Kruispunt-Requester": career.employers[0]["kbo"]},
        {"X-Kruispunt-Declarant": KSZ},
    ):
        answer = career.client.get(f"/persons/{insz}/career", headers=headers)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "ONLY_KSZ"
        assert insz not in answer.text


@pytest.mark.parametrize("bad", ["12345678901", "abc", "85073003329"])
def test_an_invalid_insz_is_a_400(career: Career, bad: str) -> None:
    answer = career.client.get(f"/persons/{bad}/career", headers=KSZ_HEADERS)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_SSIN"


def test_employments_are_the_persons_own_periods_with_the_employers_named(career: Career) -> None:
    insz = career.workers[0]
    answer = career.client.get(f"/persons/{insz}/career", headers=KSZ_HEADERS)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["insz"] == insz
    got = [
        (e["employer"]["kbo"], e["employer"]["name"], e["worker_type"], e["joint_committee"])
        for e in body["employments"]
    ]
    assert sorted(got) == sorted(
        [
            (career.employers[0]["kbo"], career.employers[0]["name"], "OTH", "XXX"),
            (career.employers[1]["kbo"], career.employers[1]["name"], "STU", "302"),
        ]
    )  # the cancelled period at the third employer is not part of the career
    assert all(e["start"] == "2020-01-01" and e["end"] is None for e in body["employments"])
    assert body["quarters"] == []


def test_a_person_without_declarations_has_an_empty_career(career: Career) -> None:
    stranger = inszs(1, start=400)[0]
    answer = career.client.get(f"/persons/{stranger}/career", headers=KSZ_HEADERS)
    assert answer.status_code == 200
    assert answer.json() == {"insz": stranger, "employments": [], "quarters": []}


def test_quarters_sum_the_current_dmfa_of_the_person_only(career: Career) -> None:
    boss = career.employers[0]
    persons = career.declare_dmfa(boss, career.workers[:3])
    insz = career.workers[1]
    mine = next(p for p in persons if p["INSS"] == insz)
    answer = career.client.get(f"/persons/{insz}/career", headers=KSZ_HEADERS)
    assert answer.status_code == 200, answer.text
    (line,) = answer.json()["quarters"]
    assert line["quarter"] == f"{QUARTER // 10}-{QUARTER % 10}"
    assert line["employer"] == {"kbo": boss["kbo"], "name": boss["name"]}
    assert line["worker_code"] == mine["WorkerRecord"][0]["WorkerCode"]
    wages = sum(
        r["RemunAmount"]
        for rec in mine["WorkerRecord"]
        for occ in rec["Occupation"]
        for r in occ.get("Remun", [])
    )
    assert line["gross_cents"] == wages
    assert line["days"] > 0

    # a superseded version is history: it is no longer the career
    with career.app.state.ctx.engine.begin() as conn:
        conn.execute(update(dmfa_declaration_table).values(superseded=True))
    assert career.client.get(f"/persons/{insz}/career", headers=KSZ_HEADERS).json()["quarters"] == []
