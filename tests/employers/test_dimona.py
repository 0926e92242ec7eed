"""Dimona over REST (SQLite and PostgreSQL): each kind accepted, warned and refused; the period it leaves in
``dimona_period`` and the delivery queued for the RSZ; overlaps, Out/Update/Cancel on unknown, foreign and
cancelled periods, out-of-order declarations, the worker-type rules, daily registrations, mandates and the
declarations log; malformed bodies answered 400/422 and, whatever the body, never a 5xx."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, func, select

from kruispunt.employers import service
from kruispunt.employers.dimona import PERIOD_ID_BASE
from kruispunt.employers.models import (
    declaration_table,
    dimona_period_table,
    outbox_table,
    submission_table,
)
from kruispunt.ids import make_dimona_period_id, make_insz, validate_dimona_period_id
from tests.employers.conftest import APP_TODAY, EmployersApp

FUTURE = "2024-11-10"


def dimona_in(
    employer: dict[str, Any] | None,
    insz: str | None,
    *,
    worker_type: str = "OTH",
    start: str = FUTURE,
    end: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dimonaIn": {
            "features": {"workerType": worker_type, "jointCommissionNumber": "XXX"},
            "startDate": start,
            **({"endDate": end} if end else {}),
            **extra,
        }
    }
    if employer is not None:
        body["employer"] = {"enterpriseNumber": employer["kbo"]}
    if insz is not None:
        body["worker"] = {"ssin": insz}
    return body


def change(kind: str, employer: dict[str, Any] | None, **values: Any) -> dict[str, Any]:
    body: dict[str, Any] = {kind: values}
    if employer is not None:
        body["employer"] = {"enterpriseNumber": employer["kbo"]}
    return body


def post(api: EmployersApp, body: Any, declarant: str | None = None) -> Any:
    return api.client.post("/declarations", json=body, headers=api.headers(declarant))


def declared(api: EmployersApp, body: Any, declarant: str | None = None) -> dict[str, Any]:
    response = post(api, body, declarant)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


def status(answer: dict[str, Any]) -> str:
    return str(answer["declarationStatus"]["result"])


def errors(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["errorId"], a["anomalyClass"]) for a in answer["declarationStatus"]["anomalies"]]


def period_of(answer: dict[str, Any]) -> str:
    period = answer["declarationStatus"]["period"]
    assert period is not None, answer
    return str(period["id"])


def count(api: EmployersApp, table: Table) -> int:
    with api.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def period_row(api: EmployersApp, period_id: str) -> Any:
    with api.ctx.engine.connect() as conn:
        return conn.execute(select(dimona_period_table).where(dimona_period_table.c.id == period_id)).one()


def outbox(api: EmployersApp) -> list[Any]:
    with api.ctx.engine.connect() as conn:
        return list(conn.execute(select(outbox_table).order_by(outbox_table.c.id)))


# ------------------------------------------------------------------------------------------------ DimonaIn


def test_dimona_in_accepted_with_location_get_period_and_delivery(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, insz = api.employers[0], api.workers[0]
    response = post(api, dimona_in(boss, insz, end="2024-12-31", startHour="0800", plannedHoursNumber=20))
    assert response.status_code == 201
    answer = response.json()
    assert response.headers["location"] == f"/declarations/{answer['declarationId']}"
    assert status(answer) == "A"
    assert errors(answer) == []
    pid = period_of(answer)
    assert (
        validate_dimona_period_id(pid)
        == pid
        == make_dimona_period_id(PERIOD_ID_BASE + answer["declarationId"])
    )

    got = api.client.get(response.headers["location"], headers=api.headers())
    assert got.status_code == 200
    body = got.json()
    assert body["declarationId"] == answer["declarationId"]
    assert body["declarationStatus"] == answer["declarationStatus"]
    assert body["kind"] == "DimonaIn"
    assert body["employer"] == boss["kbo"]
    assert body["worker"] == {"ssin": insz}

    row = period_row(api, pid)
    assert (row.employer_kbo, row.insz, row.worker_type, row.joint_committee) == (
        boss["kbo"],
        insz,
        "OTH",
        "XXX",
    )
    assert (row.start, row.end, row.start_hour, row.planned_hours, row.version) == (
        dt.date(2024, 11, 10),
        dt.date(2024, 12, 31),
        "0800",
        20,
        1,
    )
    [queued] = outbox(api)
    assert queued.target == "rsz_dimona"
    assert queued.key == f"dimona:{pid}:v1"
    assert queued.state == "pending"
    assert queued.payload == {
        "op": "upsert",
        "kind": "dimona_period",
        "key": pid,
        "insz": insz,
        "start": "2024-11-10",
        "end": "2024-12-31",
        "attrs": {
            "employer_kbo": boss["kbo"],
            "employer_rsz": boss["rsz"],
            "employer_name": boss["name"],
            "worker_type": "OTH",
            "joint_committee": "XXX",
            "dimona_id": pid,
        },
    }


def test_dimona_in_by_rsz_number_and_late_is_a_warning(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[1]
    body = dimona_in(None, api.workers[1], start="2024-11-01")
    body["employer"] = {"nossRegistrationNumber": boss["rsz"]}
    answer = declared(api, body, declarant=boss["kbo"])
    assert status(answer) == "W"
    assert errors(answer) == [("00910-021", "W")]
    assert answer["employer"] == boss["kbo"]
    assert period_row(api, period_of(answer)).start == dt.date(2024, 11, 1)


def test_dimona_in_without_employer_is_the_declarants_own(employers_app: EmployersApp) -> None:
    api = employers_app
    answer = declared(api, dimona_in(None, api.workers[2]))
    assert status(answer) == "A"
    assert answer["employer"] == api.employers[0]["kbo"]
    stranger = "0403170701"  # a valid KBO number (not in the repertory): names no employer, is none
    refused = declared(api, dimona_in(None, api.workers[2]), declarant=stranger)
    assert status(refused) == "B"
    assert ("90256-001", "B") in errors(refused)


def test_refused_declarations_are_stored_with_their_anomalies(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    good = api.workers[3]
    wrong = good[:9] + f"{(int(good[9:]) + 1) % 100:02d}"
    answer = declared(api, dimona_in(boss, wrong))
    assert status(answer) == "B"
    assert errors(answer) == [("00024-004", "B")]
    [a] = answer["declarationStatus"]["anomalies"]
    assert a["location"] == "/worker/ssin"
    assert a["tag"] == "INSS"
    assert a["errorLabel"] == "Ongeldig controlegetal"
    assert answer["declarationStatus"]["period"] is None
    assert count(api, declaration_table) == 1
    assert count(api, dimona_period_table) == 0
    assert outbox(api) == []
    got = api.client.get(f"/declarations/{answer['declarationId']}", headers=api.headers()).json()
    assert got["declarationStatus"]["result"] == "B"


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        (dt.date(2012, 1, 1), [("00024-009", "B")]),
        (dt.date(2010, 1, 1), [("00024-009", "W")]),
        (dt.date(2008, 1, 1), []),
    ],
)
def test_age_of_the_worker(
    employers_app: EmployersApp, born: dt.date, expected: list[tuple[str, str]]
) -> None:
    api = employers_app
    answer = declared(api, dimona_in(api.employers[0], make_insz(born, 5)))
    assert errors(answer) == expected


def test_employer_must_be_valid_and_in_the_repertory(employers_app: EmployersApp) -> None:
    api = employers_app
    insz = api.workers[4]
    kbo = api.employers[0]["kbo"]
    bad_check = kbo[:8] + f"{(int(kbo[8:]) + 1) % 100:02d}"
    answer = declared(api, {**dimona_in(None, insz), "employer": {"enterpriseNumber": bad_check}})
    assert errors(answer) == [("00014-004", "B")]
    answer = declared(api, {**dimona_in(None, insz), "employer": {"enterpriseNumber": "0403170701"}})
    assert errors(answer) == [("00014-017", "B")]
    mixed = {"enterpriseNumber": kbo, "nossRegistrationNumber": api.employers[1]["rsz"]}
    answer = declared(api, {**dimona_in(None, insz), "employer": mixed})
    assert ("00011-022", "B") in errors(answer)
    assert count(api, dimona_period_table) == 0


# ---------------------------------------------------------------------------------------------- overlaps


def test_no_overlapping_period_for_the_same_worker_type(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, insz = api.employers[0], api.workers[5]
    first = declared(api, dimona_in(boss, insz, start="2024-11-10", end="2024-12-31"))
    assert status(first) == "A"
    clash = declared(api, dimona_in(boss, insz, start="2024-12-01"))
    assert status(clash) == "B"
    assert errors(clash) == [("90373-006", "B")]
    assert period_of(first) in clash["declarationStatus"]["anomalies"][0]["message"]
    assert status(declared(api, dimona_in(boss, insz, start="2025-01-01"))) == "A"  # after the end
    assert status(declared(api, dimona_in(boss, insz, worker_type="BCW", start="2024-12-01"))) == "A"
    other = api.employers[1]
    assert status(declared(api, dimona_in(other, insz, start="2024-12-01"), declarant=other["kbo"])) == "A"
    # once cancelled, the time is free again
    assert status(declared(api, change("dimonaCancel", boss, periodId=period_of(first)))) == "A"
    assert status(declared(api, dimona_in(boss, insz, start="2024-12-01", end="2024-12-31"))) == "A"


# --------------------------------------------------------------------------------- Out / Update / Cancel


def test_out_update_cancel_change_the_period_and_its_version(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, insz = api.employers[0], api.workers[6]
    pid = period_of(declared(api, dimona_in(boss, insz)))

    out = declared(api, change("dimonaOut", boss, periodId=pid, endDate="2025-02-28"))
    assert status(out) == "A"
    assert period_of(out) == pid
    assert out["kind"] == "DimonaOut"
    row = period_row(api, pid)
    assert (row.end, row.version) == (dt.date(2025, 2, 28), 2)

    update = declared(api, change("dimonaUpdate", None, periodId=int(pid), startDate="2024-11-12"))
    assert status(update) == "A"
    row = period_row(api, pid)
    assert (row.start, row.end, row.version) == (dt.date(2024, 11, 12), dt.date(2025, 2, 28), 3)

    reopen = declared(api, change("dimonaUpdate", boss, periodId=pid, endDate="9999-12-31"))
    assert status(reopen) == "A"
    assert period_row(api, pid).end is None

    cancel = declared(api, change("dimonaCancel", boss, periodId=pid))
    assert status(cancel) == "A"
    row = period_row(api, pid)
    assert row.cancelled
    assert row.version == 5
    keys = [(q.key, q.payload["op"], q.payload["end"]) for q in outbox(api)]
    assert keys == [
        (f"dimona:{pid}:v1", "upsert", None),
        (f"dimona:{pid}:v2", "upsert", "2025-02-28"),
        (f"dimona:{pid}:v3", "upsert", "2025-02-28"),
        (f"dimona:{pid}:v4", "upsert", None),
        (f"dimona:{pid}:v5", "cancel", None),
    ]
    with api.ctx.engine.connect() as conn:
        body = conn.execute(
            select(declaration_table.c.body).where(declaration_table.c.id == update["declarationId"])
        ).scalar_one()
    assert body["impact"]["before"]["startDate"] == "2024-11-10"
    assert body["impact"]["after"]["startDate"] == "2024-11-12"


def test_changes_on_unknown_foreign_and_cancelled_periods_are_refused(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, other, insz = api.employers[0], api.employers[1], api.workers[7]
    mine = period_of(declared(api, dimona_in(boss, insz, end="2024-12-31")))
    theirs = period_of(declared(api, dimona_in(other, api.workers[8]), declarant=other["kbo"]))
    unknown = make_dimona_period_id(PERIOD_ID_BASE + 999_999)
    wrong_check = unknown[:10] + f"{(int(unknown[10:]) + 1) % 100:02d}"

    for kind, extra in (
        ("dimonaOut", {"endDate": "2025-01-31"}),
        ("dimonaUpdate", {"endDate": "2025-01-31"}),
        ("dimonaCancel", {}),
    ):
        for pid in (unknown, theirs):
            answer = declared(api, change(kind, boss, periodId=pid, **extra))
            assert errors(answer) == [("00913-003", "B")], (kind, pid)
            message = answer["declarationStatus"]["anomalies"][0]["message"]
            assert other["kbo"] not in message
            assert api.workers[8] not in message
            assert answer["declarationStatus"]["period"] is None
        assert errors(declared(api, change(kind, boss, periodId=wrong_check, **extra))) == [
            ("00913-004", "B")
        ]
    # another employer's period, named by no employer: answered as unknown too (no mandate there)
    assert errors(declared(api, change("dimonaCancel", None, periodId=theirs))) == [("00913-003", "B")]
    assert period_row(api, theirs).version == 1
    assert not period_row(api, theirs).cancelled

    # end before start, and a worker who is not the period's
    assert errors(declared(api, change("dimonaOut", boss, periodId=mine, endDate="2024-11-01"))) == [
        ("00911-014", "B")
    ]
    wrong_worker = {**change("dimonaCancel", boss, periodId=mine), "worker": {"ssin": api.workers[9]}}
    assert errors(declared(api, wrong_worker)) == [("00024-024", "B")]

    assert status(declared(api, change("dimonaCancel", boss, periodId=mine))) == "A"
    for kind, extra in (
        ("dimonaOut", {"endDate": "2025-01-31"}),
        ("dimonaUpdate", {"startDate": "2024-11-20"}),
        ("dimonaCancel", {}),
    ):
        assert errors(declared(api, change(kind, boss, periodId=mine, **extra))) == [("00913-021", "B")], kind
    assert period_row(api, mine).version == 2


def test_out_of_order_an_out_before_its_in(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, insz = api.employers[0], api.workers[10]
    with api.ctx.engine.connect() as conn:
        last = int(conn.execute(select(func.coalesce(func.max(declaration_table.c.id), 0))).scalar_one())
    upcoming = make_dimona_period_id(PERIOD_ID_BASE + last + 2)  # the Out takes last + 1, the In last + 2
    early = declared(api, change("dimonaOut", boss, periodId=upcoming, endDate="2024-12-31"))
    assert errors(early) == [("00913-003", "B")]
    period = period_of(declared(api, dimona_in(boss, insz)))
    assert period == upcoming
    assert status(declared(api, change("dimonaOut", boss, periodId=upcoming, endDate="2024-12-31"))) == "A"


def test_an_update_may_not_create_an_overlap_nor_change_nothing(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, insz = api.employers[0], api.workers[11]
    first = period_of(declared(api, dimona_in(boss, insz, start="2024-11-10", end="2024-11-30")))
    second = period_of(declared(api, dimona_in(boss, insz, start="2024-12-10", end="2024-12-31")))
    clash = declared(api, change("dimonaUpdate", boss, periodId=first, endDate="2024-12-15"))
    assert errors(clash) == [("90378-006", "B")]
    assert period_row(api, first).end == dt.date(2024, 11, 30)
    assert errors(declared(api, change("dimonaUpdate", boss, periodId=second))) == [("90378-001", "B")]


# ------------------------------------------------------------------------------------------ worker types


@pytest.mark.parametrize(
    ("worker_type", "extra", "expected"),
    [
        ("STU", {"endDate": "2025-01-15", "plannedHoursNumber": 40}, [("00911-034", "B")]),
        ("STU", {"endDate": "2024-12-15"}, [("01135-001", "B")]),
        ("STU", {"endDate": "2024-12-15", "plannedHoursNumber": 40}, []),
        ("STU", {}, [("00911-001", "B"), ("01135-001", "B")]),
        ("O17", {"endDate": "2025-01-15"}, [("00911-034", "B")]),
        ("A17", {"endDate": "2024-11-10"}, [("00655-021", "B")]),
        ("T17", {"endDate": "2024-11-11"}, [("00911-021", "B")]),
        ("T17", {"endDate": "2024-11-10"}, []),
        ("FLX", {}, []),
        ("EXT", {"startHour": "1800", "endHour": "1700", "endDate": "2024-11-10"}, [("00778-014", "B")]),
    ],
)
def test_worker_type_rules(
    employers_app: EmployersApp, worker_type: str, extra: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    api = employers_app
    answer = declared(api, dimona_in(api.employers[0], api.workers[0], worker_type=worker_type, **extra))
    assert errors(answer) == expected


def test_flexi_job_not_declared_more_than_31_days_before_its_quarter(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    assert dt.date(2024, 11, 5) == APP_TODAY
    too_early = declared(api, dimona_in(boss, api.workers[1], worker_type="FLX", start="2025-01-05"))
    assert errors(too_early) == [("00910-034", "B")]  # quarter 2025-01-01, earliest 2024-12-01
    assert (
        status(declared(api, dimona_in(boss, api.workers[1], worker_type="FLX", start="2024-12-20"))) == "A"
    )
    article17 = declared(
        api, dimona_in(boss, api.workers[2], worker_type="S17", start="2024-12-20", end="2024-12-21")
    )
    assert errors(article17) == [("00910-005", "B")]  # more than 15 days ahead


def test_student_period_moved_across_a_quarter_is_refused(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    pid = period_of(
        declared(
            api, dimona_in(boss, api.workers[3], worker_type="STU", end="2024-12-20", plannedHoursNumber=30)
        )
    )
    moved = declared(api, change("dimonaOut", boss, periodId=pid, endDate="2025-01-10"))
    assert errors(moved) == [("00911-034", "B")]
    assert period_row(api, pid).end == dt.date(2024, 12, 20)


# ------------------------------------------------------------------------------------ daily registrations


def test_daily_registrations_of_an_extra_worker(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    pid = period_of(declared(api, dimona_in(boss, api.workers[4], worker_type="EXT", end="2024-12-31")))

    def registration(**values: Any) -> dict[str, Any]:
        return change("dailyRegistration", boss, **values)

    no_hour = declared(api, registration(attestationStatus=0, periodId=pid, startDate="2024-11-20"))
    assert errors(no_hour) == [("00777-001", "B")]
    made = declared(
        api,
        registration(
            attestationStatus=0, periodId=pid, startDate="2024-11-20", startHour="1800", endHour="2300"
        ),
    )
    assert status(made) == "A"
    reg = period_of(made)
    assert reg != pid
    assert period_row(api, reg).parent_id == pid
    twin = declared(
        api, registration(attestationStatus=0, periodId=pid, startDate="2024-11-20", startHour="1000")
    )
    assert errors(twin) == [("90480-006", "B")]
    outside = declared(
        api, registration(attestationStatus=0, periodId=pid, startDate="2025-01-20", startHour="1000")
    )
    assert errors(outside) == [("00910-021", "B")]
    modified = declared(api, registration(attestationStatus=1, dailyRegistrationId=reg, endHour="2330"))
    assert status(modified) == "A"
    assert period_row(api, reg).end_hour == "2330"
    assert errors(
        declared(api, registration(attestationStatus=1, dailyRegistrationId=pid, endHour="2330"))
    ) == [("01085-003", "B")]
    assert status(declared(api, registration(attestationStatus=3, dailyRegistrationId=reg))) == "A"
    assert period_row(api, reg).cancelled
    # registrations are not periods: no overlap, no delivery of their own
    assert [q.key for q in outbox(api)] == [f"dimona:{pid}:v1"]


# ------------------------------------------------------------------------------------------ mandates, log


def test_no_mandate_refuses_the_request_logs_it_and_stores_nothing(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, secretariat = api.employers[0], api.employers[3]["kbo"]
    response = post(api, dimona_in(boss, api.workers[5]), declarant=secretariat)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "NO_MANDATE"
    assert count(api, submission_table) == 0
    assert count(api, declaration_table) == 0
    assert count(api, dimona_period_table) == 0
    assert outbox(api) == []
    [entry] = api.logged()
    assert (entry.outcome, entry.reason_code, entry.requester_kbo, entry.message_type) == (
        "REFUSED",
        "NO_MANDATE",
        secretariat,
        "DimonaIn",
    )


def test_a_mandated_social_secretariat_declares_and_reads(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, secretariat = api.employers[0], api.employers[3]["kbo"]
    with api.ctx.engine.begin() as conn:
        service.grant_mandate(
            conn,
            employer_kbo=boss["kbo"],
            declarant_kbo=secretariat,
            role=11,
            start=dt.date(2024, 1, 1),
            end=None,
        )
    answer = declared(api, dimona_in(boss, api.workers[6]), declarant=secretariat)
    assert status(answer) == "A"
    assert answer["declarant"] == secretariat
    assert answer["employer"] == boss["kbo"]
    pid = period_of(answer)
    # the secretariat changes the period without naming the employer (it may act for it)
    assert status(declared(api, change("dimonaCancel", None, periodId=pid), declarant=secretariat)) == "A"
    url = f"/declarations/{answer['declarationId']}"
    assert api.client.get(url, headers=api.headers(secretariat)).status_code == 200
    assert api.client.get(url, headers=api.headers(boss["kbo"])).status_code == 200
    stranger = api.client.get(url, headers=api.headers(api.employers[2]["kbo"]))
    assert stranger.status_code == 403
    assert stranger.json()["error"]["code"] == "NOT_YOURS"


def test_every_processed_declaration_is_logged(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    accepted = declared(api, dimona_in(boss, api.workers[7]))
    refused = declared(api, dimona_in(boss, "00000000000"))
    entries = api.logged()
    assert [(e.message_type, e.outcome, e.ticket) for e in entries] == [
        ("DimonaIn", "ACCEPTED", accepted["ticket"]),
        ("DimonaIn", "REFUSED", refused["ticket"]),
    ]
    assert entries[0].person_insz == api.workers[7]
    assert entries[1].reason_code == "00024-004"


# -------------------------------------------------------------------------------------------- bad input


def test_malformed_bodies_are_answered_400_or_422_and_store_nothing(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, insz = api.employers[0], api.workers[0]
    raw = api.client.post("/declarations", content=b"{not json", headers=api.headers())
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "MALFORMED_JSON"
    bodies: list[Any] = [
        [],
        {},
        {"dimonaIn": None},
        {**dimona_in(boss, insz), "dimonaCancel": {"periodId": "1"}},
        dimona_in(boss, insz, worker_type="XYZ"),
        dimona_in(boss, insz, start="2024-02-30"),
        dimona_in(boss, insz, startHour="2460"),
        dimona_in(boss, insz, plannedHoursNumber="12"),
        dimona_in(boss, insz, plannedHoursNumber=12, plannedDaysNumber=2),
        {**dimona_in(boss, insz), "unexpected": 1},
        {**dimona_in(boss, insz), "worker": {"ssin": "123"}},
        {**dimona_in(boss, insz), "employer": {}},
        change("dimonaCancel", boss, periodId="12345678901234"),
    ]
    timestamp = dimona_in(boss, insz)
    timestamp["dimonaIn"]["startDate"] = 1704067200
    for body in [*bodies, timestamp]:
        response = post(api, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "INVALID_REQUEST"
    assert api.client.post("/declarations", json=dimona_in(boss, insz)).status_code == 400  # no declarant
    assert count(api, submission_table) == 0
    assert count(api, declaration_table) == 0
    missing = api.client.get("/declarations/987654", headers=api.headers())
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "UNKNOWN_DECLARATION"
    assert api.client.get(f"/declarations/{2**70}", headers=api.headers()).status_code == 422


def _with(base: dict[str, Any], key: str, part: dict[str, Any]) -> dict[str, Any]:
    return {**base, key: part}


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(["dimonaIn", "dimonaOut", "dimonaUpdate", "dimonaCancel", "dailyRegistration"])
_shaped = st.fixed_dictionaries(
    {"employer": st.fixed_dictionaries({"enterpriseNumber": st.from_regex(r"\A\d{10}\Z")}), "worker": _json}
).flatmap(
    lambda base: _keys.flatmap(
        lambda key: st.fixed_dictionaries(
            {
                "periodId": st.from_regex(r"\A\d{1,12}\Z") | st.integers(),
                "startDate": st.dates().map(str) | _json,
                "endDate": st.dates().map(str) | _json,
                "features": st.fixed_dictionaries(
                    {"workerType": st.sampled_from(["STU", "FLX", "OTH", "x"])}
                ),
                "attestationStatus": st.sampled_from([0, 1, 3, 2]),
            }
        ).map(partial(_with, base, key))
    )
)


def test_any_json_body_gets_a_json_2xx_or_4xx(employers_app: EmployersApp) -> None:
    api = employers_app

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=_json | _shaped)
    def check(body: Any) -> None:
        response = post(api, body)
        assert response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/json")
        response.json()

    check()
