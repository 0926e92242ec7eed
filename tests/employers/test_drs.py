"""Social-risk declarations over HTTP (SQLite and PostgreSQL): each scenario accepted, warned or refused; the
link blocks and wage data filled from the stored Dimona periods and DmfA; the delivery through the hub
enqueued in the same transaction; no mandate refused and logged; bad input a clear 4xx, never a 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from kruispunt.employers import dmfa, service
from kruispunt.employers.api import create_employers_app
from kruispunt.employers.models import (
    declaration_table,
    dimona_period_table,
    dmfa_declaration_table,
    outbox_table,
)
from kruispunt.ids import make_insz
from kruispunt.network.catalogue import Catalogue
from kruispunt.simulate.employers import generate_employers
from tests.conftest import log_entries

TODAY = dt.date(2024, 11, 5)
SECRETARIAT = "0411905847"
PROOF = {"person_data": {"last_name": "Peeters", "birth_date": "1980-03-13"}}


def _employers(count: int) -> list[dict[str, Any]]:
    return [
        {
            "kbo": e["kbo"],
            "rsz": e["rsz"],
            "name": e["name"],
            "category": "000",
            "joint_committee": e["joint_committee"],
            "nace": None,
            "since": dt.date(2000, 1, 1),
        }
        for e in generate_employers(4711, count).records()
    ]


def _period(pid: int, employer: str, insz: str, start: dt.date, end: dt.date | None) -> dict[str, Any]:
    return {
        "id": f"{pid:012d}",
        "employer_kbo": employer,
        "insz": insz,
        "worker_type": "OTH",
        "joint_committee": "XXX",
        "start": start,
        "end": end,
        "start_hour": None,
        "end_hour": None,
        "planned_hours": None,
        "cancelled": False,
        "locked": False,
        "version": 1,
        "updated_at": service.utc_now(),
    }


@dataclass
class Api:
    client: TestClient
    log_url: str
    employers: list[dict[str, Any]]
    workers: list[str]

    @property
    def boss(self) -> str:
        return str(self.employers[0]["kbo"])

    def headers(self, declarant: str | None = None) -> dict[str, str]:
        return {"X-Kruispunt-Declarant": declarant or self.boss}

    def engine(self) -> Any:
        return self.client.app.state.ctx.engine  # type: ignore[attr-defined]

    def dimona(self, insz: str, start: dt.date, end: dt.date | None, *, pid: int = 1) -> None:
        with self.engine().begin() as conn:
            conn.execute(insert(dimona_period_table), [_period(pid, self.boss, insz, start, end)])

    def dmfa(self, quarter: int, workers: list[str], *, seed: int = 1) -> list[dict[str, Any]]:
        """A DmfA accepted through the DmfA route (the very worker records a DRS links to)."""
        persons = list(dmfa.synthetic_persons(workers, quarter=quarter, seed=seed))
        employer = self.employers[0]
        body = {
            "EmployerDeclaration": {
                "Quarter": str(quarter),
                "NOSSRegistrationNbr": int(employer["rsz"]),
                "Trusteeship": 0,
                "CompanyID": employer["kbo"],
                "NetOwedAmount": dmfa.net_owed_of(persons),
                "NaturalPerson": persons,
            }
        }
        answer = self.client.post("/dmfa", json=body, headers=self.headers())
        assert answer.status_code == 201, answer.text
        assert answer.json()["declarations"][0]["result"] in ("A", "W"), answer.text
        return persons

    def declare(self, scenario: str, risk: dict[str, Any], *, insz: str | None = None, **kw: Any) -> Any:
        body = {"employer": kw.pop("employer", self.boss), "insz": insz or self.workers[0], "risk": risk}
        return self.client.post(
            f"/drs/{scenario}", json=body, headers=self.headers(kw.pop("declarant", None))
        )

    def outbox(self) -> list[Any]:
        """The deliveries through the hub (a DmfA enqueues its own, to the RSZ source)."""
        o = outbox_table.c
        with self.engine().connect() as conn:
            return list(conn.execute(select(outbox_table).where(o.target == "hub_message").order_by(o.id)))

    def logged(self) -> list[Any]:
        return log_entries(self.log_url)


@pytest.fixture
def api(fresh_db: Callable[[str], str]) -> Iterator[Api]:
    log_url = fresh_db("employers_log")
    app = create_employers_app(
        url=fresh_db("employers"), log_url=log_url, hub_url=None, rsz_url=None, deliver=False
    )
    app.state.ctx.today = lambda: TODAY
    employers = _employers(2)
    workers = [make_insz(dt.date(1980, 3, 13), 20 + i) for i in range(4)]
    with app.state.ctx.engine.begin() as conn:
        service.add_employers(conn, employers)
    with TestClient(app) as client:
        yield Api(client, log_url, employers, workers)


def _ids(answer: Any) -> list[tuple[str, str]]:
    return [(a["errorId"], a["anomalyClass"]) for a in answer.json()["anomalies"]]


def _valid_for_the_hub(payload: dict[str, Any]) -> None:
    """The outbox payload, once the delivery worker fills the proof, is what the catalogue accepts."""
    catalogue = Catalogue.load_default()
    mt = catalogue.get(payload["message_type"], payload["version"])
    assert mt is not None
    assert payload["request"]["proof"] is None
    assert catalogue.validate_request(mt, {**payload["request"], "proof": PROOF}) == []


WECH001 = {
    "end_of_contract_date": "2024-10-31",
    "last_day_worked": "2024-10-31",
    "reason": "dismissal",
    "notice": {"start": "2024-08-05", "end": "2024-10-31", "weeks": 13, "worked": True},
    "indemnity": None,
}


def test_wech001_links_the_dimona_period_and_four_quarters_of_dmfa(api: Api) -> None:
    worker = api.workers[0]
    api.dimona(worker, dt.date(2023, 6, 1), dt.date(2024, 10, 31))
    for q in (20234, 20241, 20242, 20243):
        api.dmfa(q, [worker], seed=q)
    api.dmfa(20233, [worker], seed=1)  # a fifth, older quarter: outside the reference period
    answer = api.declare("WECH001", WECH001)
    assert answer.status_code == 201, answer.text
    view = answer.json()
    assert view["result"] == "A", view["anomalies"]
    assert answer.headers["location"] == f"/drs/{view['id']}"
    d = view["declaration"]
    assert d["declaration_id"] == str(view["id"])
    assert d["risk_date"] == "2024-11-01"
    employer = api.employers[0]
    assert d["employer_declaration_link"] == {
        "noss_registration_nbr": employer["rsz"],
        "trusteeship": 0,
        "company_id": employer["kbo"],
        "name": employer["name"],
    }
    assert d["occupation_link"]["dimona_period_id"] == "000000000001"
    assert d["occupation_link"]["end"] == "2024-10-31"
    assert d["occupation_link"]["mean_working_hours"] == 3800
    assert d["occupation_link"]["working_days_system"] == 500
    assert d["worker_record_link"]["quarter"] == 20243
    assert d["worker_record_link"]["employer_class"] == "000"
    wages = d["wage_data"]
    assert [q["quarter"] for q in wages["quarters"]] == [20234, 20241, 20242, 20243]
    assert wages["reference_period"] == {"start": "2023-10-01", "end": "2024-09-30"}
    assert wages["gross_cents"] == sum(q["gross_cents"] for q in wages["quarters"]) > 0
    assert "calculation_base_allowance" not in wages
    assert view["delivery"]["state"] == "pending"
    (row,) = api.outbox()
    assert (row.target, row.key, row.declaration_id) == ("hub_message", f"drs:{view['id']}", view["id"])
    assert row.payload["message_type"] == "drs_wech001"
    assert row.payload["legal_context"] == "RSZ:SOCIAL_RISK_DECLARATION"
    assert row.payload["insz"] == worker
    _valid_for_the_hub(row.payload)

    # a superseded DmfA version is not linked
    with api.engine().begin() as conn:
        conn.execute(
            update(dmfa_declaration_table)
            .where(dmfa_declaration_table.c.quarter == 20243)
            .values(superseded=True)
        )
    again = api.declare("WECH001", WECH001).json()
    assert [q["quarter"] for q in again["declaration"]["wage_data"]["quarters"]] == [
        20233,
        20234,
        20241,
        20242,
    ]
    logged = api.logged()
    assert [(e.message_type, e.outcome) for e in logged if e.message_type == "WECH001"] == [
        ("WECH001", "ACCEPTED"),
        ("WECH001", "ACCEPTED"),
    ]


def test_wech001_without_dmfa_and_with_an_open_dimona_is_warned_but_sent(api: Api) -> None:
    worker = api.workers[1]
    api.dimona(worker, dt.date(2024, 2, 1), None)
    answer = api.declare("WECH001", {**WECH001, "notice": None}, insz=worker)
    assert answer.status_code == 201, answer.text
    assert answer.json()["result"] == "W"
    assert set(_ids(answer)) == {("00045-021", "W"), ("90063-001", "W")}
    d = answer.json()["declaration"]
    assert d["wage_data"] is None
    assert d["worker_record_link"] is None
    assert d["occupation_link"]["mean_working_hours"] is None
    (row,) = api.outbox()
    _valid_for_the_hub(row.payload)


def test_refused_declarations_are_stored_and_not_sent(api: Api) -> None:
    worker = api.workers[0]
    api.dimona(worker, dt.date(2023, 6, 1), dt.date(2024, 6, 30))
    no_period = api.declare("WECH001", WECH001)
    assert no_period.status_code == 201
    assert no_period.json()["result"] == "B"
    assert ("90068-021", "B") in _ids(no_period)
    assert no_period.json()["declaration"] is None
    assert no_period.json()["delivery"] is None

    unknown = api.declare("WECH001", WECH001, employer="0417497106", declarant="0417497106")
    assert unknown.json()["result"] == "B"
    assert _ids(unknown)[0] == ("00014-017", "B")
    bad_insz = api.declare("WECH001", WECH001, insz="80031302099")
    assert ("00024-004", "B") in _ids(bad_insz)
    future = api.declare("WECH001", {**WECH001, "end_of_contract_date": "2025-03-01", "notice": None})
    assert ("00045-003", "B") in _ids(future)
    assert api.outbox() == []
    with api.engine().connect() as conn:
        kinds = conn.execute(select(declaration_table.c.kind, declaration_table.c.result)).all()
    assert sorted(kinds) == [("WECH001", "B")] * 4
    refused = [e for e in api.logged() if e.message_type == "WECH001"]
    assert [e.outcome for e in refused] == ["REFUSED"] * 4
    assert refused[0].reason_code == "90068-021"


def test_wech005_hours_are_checked_against_the_day_and_the_regime(api: Api) -> None:
    worker = api.workers[0]
    api.dimona(worker, dt.date(2023, 1, 1), None)
    api.dmfa(20243, [worker])
    days = [
        {"day": "2024-10-07", "reason": "economic", "hours": 760},
        {"day": "2024-10-08", "reason": "weather", "hours": 380},
    ]
    ok = api.declare("WECH005", {"month": "2024-10", "days": days})
    assert ok.status_code == 201, ok.text
    assert ok.json()["result"] == "A", ok.json()["anomalies"]
    d = ok.json()["declaration"]
    assert d["risk"]["total_hours"] == 1140
    assert d["risk_date"] == "2024-10-01"
    assert [q["quarter"] for q in d["wage_data"]["quarters"]] == [20243]
    _valid_for_the_hub(api.outbox()[0].payload)

    more = [{"day": "2024-10-09", "reason": "economic", "hours": 900}]
    warned = api.declare("WECH005", {"month": "2024-10", "days": more})
    assert warned.json()["result"] == "W"
    assert _ids(warned) == [("00180-047", "W")]

    for risk, error in [
        (
            {"month": "2024-10", "days": [{"day": "2024-10-09", "reason": "economic", "hours": 1200}]},
            "00180-008",
        ),
        (
            {"month": "2024-10", "days": [{"day": "2024-09-30", "reason": "economic", "hours": 100}]},
            "00178-021",
        ),
        (
            {"month": "2024-12", "days": [{"day": "2024-12-02", "reason": "economic", "hours": 100}]},
            "00178-003",
        ),
        ({"month": "2024-10", "days": [days[0], days[0]]}, "00179-006"),
    ]:
        refused = api.declare("WECH005", risk)
        assert refused.json()["result"] == "B", risk
        assert (error, "B") in _ids(refused), (risk, _ids(refused))
    assert len(api.outbox()) == 2


def test_zima001_carries_the_calculation_base_of_the_last_quarter(api: Api) -> None:
    worker = api.workers[0]
    api.dimona(worker, dt.date(2023, 1, 1), None)
    persons = api.dmfa(20243, [worker])
    gross = persons[0]["WorkerRecord"][0]["Occupation"][0]["Remun"][0]["RemunAmount"]
    risk = {"incapacity_start": "2024-10-14", "kind": "sickness", "last_day_worked": "2024-10-11"}
    ok = api.declare("ZIMA001", risk)
    assert ok.status_code == 201, ok.text
    assert ok.json()["result"] == "A", ok.json()["anomalies"]
    wages = ok.json()["declaration"]["wage_data"]
    assert wages["calculation_base_allowance"]["base_amount_cents"] == round(gross / 3)
    assert wages["calculation_base_allowance"]["time_unit"] == 4
    (row,) = api.outbox()
    assert row.payload["message_type"] == "drs_zima001"
    _valid_for_the_hub(row.payload)

    for change, error in [
        ({"last_day_worked": "2024-10-14"}, "00410-021"),
        ({"kind": "maternity"}, "00430-001"),
        ({"work_resumption": "2024-10-01"}, "00128-014"),
        ({"incapacity_start": "2024-11-20", "last_day_worked": "2024-11-19"}, "00408-003"),
    ]:
        refused = api.declare("ZIMA001", {**risk, **change})
        assert refused.json()["result"] == "B", change
        assert (error, "B") in _ids(refused), (change, _ids(refused))
    # maternity rest may be declared before it starts
    announced = api.declare(
        "ZIMA001",
        {
            "incapacity_start": "2024-11-20",
            "last_day_worked": "2024-11-19",
            "kind": "maternity",
            "expected_delivery_date": "2024-12-20",
        },
    )
    assert announced.json()["result"] == "A", announced.json()["anomalies"]


def test_aoat001_accident_and_its_plausibility(api: Api) -> None:
    worker = api.workers[0]
    api.dimona(worker, dt.date(2023, 1, 1), None)
    api.dmfa(20243, [worker])
    risk = {
        "accident_date": "2024-10-21",
        "accident_time": "10:30",
        "place": {"kind": "usual_workplace", "traffic_accident": False, "postal_code": "9000"},
        "circumstances": "fell from a ladder while painting",
        "injuries": [{"nature": "fracture", "body_part": "left wrist"}],
        "consequences": "temporary_incapacity",
        "activity_stopped_on": "2024-10-21",
    }
    ok = api.declare("AOAT001", risk)
    assert ok.status_code == 201, ok.text
    assert ok.json()["result"] == "A", ok.json()["anomalies"]
    assert ok.json()["declaration"]["risk"]["place"]["country"] == "BE"
    _valid_for_the_hub(api.outbox()[0].payload)
    warned = api.declare("AOAT001", {**risk, "activity_stopped_on": None})
    assert _ids(warned) == [("00266-001", "W")]
    assert ("00237-003", "B") in _ids(api.declare("AOAT001", {**risk, "accident_date": "2024-12-01"}))
    assert ("00266-014", "B") in _ids(api.declare("AOAT001", {**risk, "activity_stopped_on": "2024-10-20"}))


def test_only_the_employer_or_a_mandated_secretariat_declares(api: Api) -> None:
    worker = api.workers[0]
    api.dimona(worker, dt.date(2023, 1, 1), None)
    risk = {"incapacity_start": "2024-10-14", "kind": "sickness", "last_day_worked": "2024-10-11"}
    refused = api.declare("ZIMA001", risk, declarant=SECRETARIAT)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "NO_MANDATE"
    with api.engine().connect() as conn:
        assert conn.execute(select(declaration_table)).first() is None
    assert [(e.message_type, e.outcome, e.reason_code, e.requester_kbo) for e in api.logged()] == [
        ("ZIMA001", "REFUSED", "NO_MANDATE", SECRETARIAT)
    ]
    with api.engine().begin() as conn:
        service.grant_mandate(
            conn,
            employer_kbo=api.boss,
            declarant_kbo=SECRETARIAT,
            role=11,
            start=dt.date(2024, 1, 1),
            end=None,
        )
    ok = api.declare("ZIMA001", risk, declarant=SECRETARIAT)
    assert ok.status_code == 201, ok.text
    assert ok.json()["declarant"] == SECRETARIAT
    assert ok.json()["declaration"]["form"]["declarant"] == SECRETARIAT
    # the declarant and the employer read it, nobody else
    path = f"/drs/{ok.json()['id']}"
    assert api.client.get(path, headers=api.headers(SECRETARIAT)).json()["result"] == "W"
    assert api.client.get(path, headers=api.headers()).status_code == 200
    other = str(api.employers[1]["kbo"])
    assert api.client.get(path, headers=api.headers(other)).status_code == 404
    assert api.client.get("/drs/999999", headers=api.headers()).status_code == 404


def test_bad_requests_are_clear_4xx_and_logged(api: Api) -> None:
    client = api.client
    risk = {"incapacity_start": "2024-10-14", "kind": "sickness", "last_day_worked": "2024-10-11"}
    body = {"employer": api.boss, "insz": api.workers[0], "risk": risk}
    no_header = client.post("/drs/ZIMA001", json=body)
    assert no_header.status_code == 400
    assert no_header.json()["error"]["code"] == "NO_DECLARANT"
    unknown = client.post("/drs/BZMP001", json=body, headers=api.headers())
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "UNKNOWN_SCENARIO"
    not_json = client.post(
        "/drs/ZIMA001", content=b"{nope", headers={**api.headers(), "content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "INVALID_JSON"
    for wrong in [
        {**body, "risk": {**risk, "kind": "boredom"}},
        {**body, "risk": {**risk, "incapacity_start": "2024-02-30"}},
        {**body, "colour": "blue"},
        {"employer": api.boss},
        [],
    ]:
        answer = client.post("/drs/ZIMA001", json=wrong, headers=api.headers())
        assert answer.status_code == 422, (wrong, answer.text)
        assert answer.json()["error"]["code"] == "INVALID_DECLARATION"
        assert answer.json()["error"]["details"]["errors"]
    assert client.get("/drs/abc", headers=api.headers()).status_code == 422
    with api.engine().connect() as conn:
        assert conn.execute(select(declaration_table)).first() is None
    codes = [e.reason_code for e in api.logged()]
    assert codes == ["NO_DECLARANT", "UNKNOWN_SCENARIO", "INVALID_JSON"] + ["INVALID_DECLARATION"] * 5
