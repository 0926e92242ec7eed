"""The DmfA routes over HTTP (SQLite and PostgreSQL): files streamed and answered, JSON declarations, updates,
reading the versions, a worker's history and the export; refusals as JSON, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import insert, select

from kruispunt.employers import dmfa, service, xmlsafe
from kruispunt.employers import dmfa_xml as dx
from kruispunt.employers.api import create_employers_app
from kruispunt.employers.models import dimona_period_table, dmfa_worker_record_table
from tests.conftest import log_entries
from tests.employers.test_dmfa import (
    QUARTER,
    TODAY,
    change,
    dimona_rows,
    employer_rows,
    form,
    inszs,
    update_form,
)


@dataclass
class Api:
    client: TestClient
    log_url: str
    employers: list[dict[str, Any]]
    workers: list[str]

    @property
    def boss(self) -> dict[str, Any]:
        return self.employers[0]

    def headers(self, declarant: str | None = None, **extra: str) -> dict[str, str]:
        return {"X-Kruispunt-Declarant": declarant or self.boss["kbo"], **extra}

    def persons(self, count: int = 2, start: int = 0) -> list[dict[str, Any]]:
        return list(dmfa.synthetic_persons(self.workers[start : start + count], quarter=QUARTER))

    def upload(self, data: bytes, declarant: str | None = None) -> Any:
        return self.client.post(
            "/dmfa/files?filename=q3.xml",
            content=data,
            headers=self.headers(declarant, **{"content-type": "application/xml"}),
        )

    def logged(self) -> list[Any]:
        return log_entries(self.log_url)


@pytest.fixture
def api(fresh_db: Callable[[str], str]) -> Iterator[Api]:
    log_url = fresh_db("employers_log")
    app = create_employers_app(
        url=fresh_db("employers"), log_url=log_url, hub_url=None, rsz_url=None, deliver=False
    )
    ctx = app.state.ctx
    ctx.today = lambda: TODAY
    rows = employer_rows(3)
    workers = inszs(8)
    with ctx.engine.begin() as conn:
        service.add_employers(conn, rows)
        conn.execute(insert(dimona_period_table), dimona_rows(rows[0]["kbo"], workers))
    with TestClient(app) as client:
        yield Api(client, log_url, rows, workers)


def test_file_is_accepted_with_a_receipt(api: Api) -> None:
    answer = api.upload(dx.to_xml([form(api.boss, api.persons(3))]))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    ticket = body["ticket"]
    assert body["links"] == {
        "acrf": f"/submissions/{ticket}/acrf",
        "notification": f"/submissions/{ticket}/notification",
    }
    (d,) = body["declarations"]
    assert (d["sequence"], d["result"], d["version"], d["workerRecords"], d["anomalies"]) == (
        1,
        "A",
        1,
        3,
        [],
    )
    logged = api.logged()
    assert [(e.ticket, e.message_type, e.outcome) for e in logged] == [(ticket, "DMFA", "ACCEPTED")]


def test_file_with_anomalies_lists_them(api: Api) -> None:
    persons = api.persons(2)
    persons[1]["WorkerRecord"][0]["WorkerCode"] = "999"
    answer = api.upload(dx.to_xml([form(api.boss, persons)]))
    assert answer.status_code == 201
    (d,) = answer.json()["declarations"]
    assert d["result"] == "B"
    (a,) = d["anomalies"]
    assert (a["errorId"], a["anomalyClass"], a["errorLabel"]) == (
        "00037-008",
        "B",
        "Niet in het toegelaten domein",
    )
    assert a["location"].endswith("NaturalPerson[2]/WorkerRecord[1]/WorkerCode")
    assert isinstance(a["line"], int)
    assert api.logged()[-1].outcome == "REFUSED"


def test_schema_invalid_file_is_a_400_with_ticket_and_line(api: Api) -> None:
    data = dx.to_xml([form(api.boss, api.persons(3))])
    lines = data.split(b"\n")
    bad = next(i for i, line in enumerate(lines) if line.startswith(b"<WorkingDaysSystem>"))
    lines[bad] = b"<WorkingDaysSystem>5 days</WorkingDaysSystem>"
    answer = api.upload(b"\n".join(lines))
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"]["code"] == "SCHEMA_VIOLATION"
    assert body["error"]["details"]["line"] == bad + 1
    assert body["ticket"] == body["error"]["details"]["ticket"]
    assert body["links"]["acrf"] == f"/submissions/{body['ticket']}/acrf"
    with api.client.app.state.ctx.engine.connect() as conn:  # type: ignore[attr-defined]
        sub = service.get_submission(conn, body["ticket"])
        assert sub is not None
        assert sub.result_code == 0
        assert conn.execute(select(dmfa_worker_record_table)).first() is None


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<DmfAOriginal>&lol2;</DmfAOriginal>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><DmfAOriginal>&e;</DmfAOriginal>',
        b"\x00\x01\x02",
    ],
)
def test_hostile_file_is_a_400(api: Api, document: bytes) -> None:
    answer = api.upload(document)
    assert answer.status_code == 400
    assert "ticket" in answer.json()


def test_file_too_large_is_a_413(api: Api) -> None:
    api.client.app.state.ctx.max_file_bytes = 1000  # type: ignore[attr-defined]
    answer = api.upload(dx.to_xml([form(api.boss, api.persons(3))]))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "BODY_TOO_LARGE"


def test_declarant_is_required(api: Api) -> None:
    answer = api.client.post("/dmfa/files", content=b"<DmfAOriginal/>")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "NO_DECLARANT"


def test_no_mandate_is_refused_and_logged(api: Api) -> None:
    stranger = api.employers[2]["kbo"]
    answer = api.upload(dx.to_xml([form(api.boss, api.persons(2))]), declarant=stranger)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "NO_MANDATE"
    json_answer = api.client.post("/dmfa", json=form(api.boss, api.persons(2)), headers=api.headers(stranger))
    assert json_answer.status_code == 403
    logged = api.logged()
    assert [(e.message_type, e.outcome, e.reason_code, e.requester_kbo) for e in logged] == [
        ("DMFA", "REFUSED", "NO_MANDATE", stranger),
        ("DMFA", "REFUSED", "NO_MANDATE", stranger),
    ]
    with api.client.app.state.ctx.engine.connect() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(dmfa_worker_record_table)).first() is None
    assert (
        api.client.get(f"/dmfa/{api.boss['kbo']}/{QUARTER}", headers=api.headers(stranger)).status_code == 403
    )


def test_json_declaration_and_reading_it_back(api: Api) -> None:
    persons = api.persons(3)
    answer = api.client.post("/dmfa", json=form(api.boss, persons), headers=api.headers())
    assert answer.status_code == 201, answer.text
    (d,) = answer.json()["declarations"]
    assert d["result"] == "A"
    kbo = api.boss["kbo"]
    versions = api.client.get(f"/dmfa/{kbo}/2024-Q3", headers=api.headers()).json()
    assert versions["pid"] == d["id"]
    assert versions["current"] == 1
    assert [(v["version"], v["superseded"], v["workerRecords"]) for v in versions["versions"]] == [
        (1, False, 3)
    ]
    worker = api.client.get(f"/dmfa/{kbo}/{QUARTER}/workers/{api.workers[1]}", headers=api.headers())
    assert worker.status_code == 200
    record = worker.json()["current"]["records"][0]
    assert record["tree"]["WorkerRecord"] == persons[1]["WorkerRecord"][0]
    exported = api.client.get(f"/dmfa/{kbo}/{QUARTER}/xml", headers=api.headers())
    assert exported.headers["content-type"].startswith("application/xml")
    assert xmlsafe.schema("dmfa").validate(etree.fromstring(exported.content))
    assert api.client.get(f"/dmfa/{kbo}/20242", headers=api.headers()).status_code == 404
    assert api.client.get(f"/dmfa/{kbo}/2024-9", headers=api.headers()).status_code == 400
    assert (
        api.client.get(f"/dmfa/{kbo}/{QUARTER}/workers/{api.workers[7]}", headers=api.headers()).status_code
        == 404
    )


def test_json_errors_are_422_or_400(api: Api) -> None:
    bad = form(api.boss, api.persons(1))
    bad["EmployerDeclaration"]["NaturalPerson"][0]["Salary"] = 1
    answer = api.client.post("/dmfa", json=bad, headers=api.headers())
    assert answer.status_code == 422
    assert any("Salary" in str(e["loc"]) for e in answer.json()["error"]["details"]["errors"])
    missing = form(api.boss, api.persons(1))
    del missing["EmployerDeclaration"]["Trusteeship"]
    answer = api.client.post("/dmfa", json=missing, headers=api.headers())
    assert answer.status_code == 400
    assert "Trusteeship" in answer.json()["error"]["message"]


def test_updates_over_json_and_xml_keep_the_history(api: Api) -> None:
    persons = api.persons(3)
    (original,) = api.upload(dx.to_xml([form(api.boss, persons)])).json()["declarations"]
    kbo = api.boss["kbo"]
    by_json = api.client.post(
        "/dmfa/updates",
        json=update_form(api.boss, original["id"], [change(persons[2], 9)]),
        headers=api.headers(),
    )
    assert by_json.status_code == 201, by_json.text
    assert by_json.json()["declarations"][0]["version"] == 2
    added = api.persons(1, start=3)[0]
    by_xml = api.client.post(
        "/dmfa/updates",
        content=dx.to_xml([update_form(api.boss, original["id"], [change(added, 1)])], kind="update"),
        headers=api.headers(**{"content-type": "application/xml"}),
    )
    assert by_xml.status_code == 201, by_xml.text
    assert by_xml.json()["declarations"][0]["result"] == "A"
    versions = api.client.get(f"/dmfa/{kbo}/{QUARTER}", headers=api.headers()).json()
    assert [(v["version"], v["superseded"], v["kind"], v["workerRecords"]) for v in versions["versions"]] == [
        (1, True, "DMFA", 3),
        (2, True, "DMFAUPD", 2),
        (3, False, "DMFAUPD", 3),
    ]
    history = api.client.get(f"/dmfa/{kbo}/{QUARTER}/workers/{api.workers[2]}", headers=api.headers()).json()
    assert [len(h["records"]) for h in history["history"]] == [1, 0, 0]
    assert history["current"]["version"] == 3
    assert history["current"]["records"] == []


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_names = st.sampled_from(
    ["EmployerDeclaration", "Quarter", "NaturalPerson", "INSS", "WorkerRecord", "Form", "x"]
)
_shaped = st.recursive(
    st.none()
    | st.integers(-5, 10**12)
    | st.text(max_size=12)
    | st.sampled_from(["20243", "0870000027", "015"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_names, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(_json, _shaped))
def test_any_json_is_answered_without_a_server_error(api: Api, body: Any) -> None:
    for path in ("/dmfa", "/dmfa/updates"):
        answer = api.client.post(path, json=body, headers=api.headers())
        assert answer.status_code < 500, answer.text
        assert answer.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("name", ["q3\x00.xml", "q3\n.xml", "x" * 256])
def test_a_file_name_with_control_characters_or_too_long_is_a_422(api: Api, name: str) -> None:
    answer = api.client.post(
        f"/dmfa/files?filename={quote(name)}",
        content=b"<DmfAOriginal/>",
        headers=api.headers(None, **{"content-type": "application/xml"}),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "INVALID_REQUEST"
