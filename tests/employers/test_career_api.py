"""A person's career (Dimona employments, DmfA quarters) over HTTP, for the KSZ's portal only (SQLite and
PostgreSQL): the declared data of that person and nobody else's, read only by a request the KSZ signed
naming that person; refusals as JSON, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from kruispunt.core.settings import Settings
from kruispunt.employers import dmfa, service
from kruispunt.employers.api import create_employers_app
from kruispunt.employers.models import dimona_period_table, dmfa_declaration_table
from kruispunt.network import KSZ
from kruispunt.trust.ca import Identity
from kruispunt.trust.envelopes import SIGNATURE_HEADER, sign
from tests.employers.test_dmfa import QUARTER, TODAY, dimona_rows, employer_rows, form, inszs
from tests.trust.shared_ca import institution, ksz, ksz_callers

OCMW_GENT = "0212140186"


@dataclass
class Career:
    client: TestClient
    employers: list[dict[str, Any]]
    workers: list[str]
    app: Any
    ksz: Identity
    other: Identity

    def read(self, insz: str, *, subject: str | None = None, identity: Identity | None = None) -> Any:
        """``GET /persons/{insz}/career`` signed (by the KSZ unless ``identity``) naming ``subject``
        (default: that person), as the portal sends it."""
        path = f"/persons/{insz}/career"
        signature = sign(
            b"",
            identity or self.ksz,
            method="GET",
            path=path,
            subject=subject if subject is not None else insz,
        )
        return self.client.get(path, headers={SIGNATURE_HEADER: signature})

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
        url=fresh_db("employers"),
        log_url=None,
        hub_url=None,
        rsz_url=None,
        deliver=False,
        career_callers=ksz_callers("the career route"),
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
        yield Career(client, rows, workers, app, ksz(), institution(OCMW_GENT, "OCMW Gent"))


def test_a_header_naming_the_ksz_is_not_believed(career: Career) -> None:
    insz = career.workers[0]
    for headers in ({}, {"X-Kruispunt-Requester": KSZ}, {"X-Kruispunt-Declarant": KSZ}):
        answer = career.client.get(f"/persons/{insz}/career", headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "UNSIGNED"
        assert insz not in answer.text


def test_only_the_ksz_may_read_a_whole_career(career: Career) -> None:
    insz = career.workers[0]
    answer = career.read(insz, identity=career.other)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "CALLER_NOT_ALLOWED"
    assert insz not in answer.text


def test_the_ksz_reads_a_career_only_for_the_person_it_names(career: Career) -> None:
    insz, someone_else = career.workers[0], career.workers[1]
    answer = career.read(insz, subject=someone_else)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "ONLY_THE_PERSON"
    assert insz not in answer.text
    path = f"/persons/{insz}/career"
    nobody = career.client.get(
        path, headers={SIGNATURE_HEADER: sign(b"", career.ksz, method="GET", path=path)}
    )
    assert nobody.status_code == 401, nobody.text
    assert nobody.json()["error"]["code"] == "NO_SUBJECT"


def test_a_replayed_or_rerouted_request_is_refused(career: Career) -> None:
    insz, someone_else = career.workers[0], career.workers[1]
    path = f"/persons/{insz}/career"
    signature = sign(b"", career.ksz, method="GET", path=path, subject=insz)
    assert career.client.get(path, headers={SIGNATURE_HEADER: signature}).status_code == 200
    again = career.client.get(path, headers={SIGNATURE_HEADER: signature})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "REPLAYED"
    signature = sign(b"", career.ksz, method="GET", path=path, subject=someone_else)
    elsewhere = career.client.get(f"/persons/{someone_else}/career", headers={SIGNATURE_HEADER: signature})
    assert elsewhere.status_code == 401, elsewhere.text
    assert elsewhere.json()["error"]["code"] == "BAD_SIGNATURE"


def test_without_a_network_ca_the_route_is_closed(fresh_db: Callable[[str], str], tmp_path: Path) -> None:
    app = create_employers_app(
        url=fresh_db("employers"),
        log_url=None,
        hub_url=None,
        rsz_url=None,
        deliver=False,
        settings=Settings(data_dir=tmp_path / "no-trust"),
    )
    insz = inszs(1)[0]
    path = f"/persons/{insz}/career"
    signature = sign(b"", ksz(), method="GET", path=path, subject=insz)
    with TestClient(app) as client:
        answer = client.get(path, headers={SIGNATURE_HEADER: signature})
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "NO_CALLER_CHECK"


@pytest.mark.parametrize("bad", ["12345678901", "abc", "85073003329"])
def test_an_invalid_insz_is_a_400(career: Career, bad: str) -> None:
    answer = career.read(bad)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_SSIN"


def test_employments_are_the_persons_own_periods_with_the_employers_named(career: Career) -> None:
    insz = career.workers[0]
    answer = career.read(insz)
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
    answer = career.read(stranger)
    assert answer.status_code == 200
    assert answer.json() == {"insz": stranger, "employments": [], "quarters": []}


def test_quarters_sum_the_current_dmfa_of_the_person_only(career: Career) -> None:
    boss = career.employers[0]
    persons = career.declare_dmfa(boss, career.workers[:3])
    insz = career.workers[1]
    mine = next(p for p in persons if p["INSS"] == insz)
    answer = career.read(insz)
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
    assert career.read(insz).json()["quarters"] == []
