"""Dimona XML files (SQLite and PostgreSQL): reading Forms into declarations, single and batch files (a bad
Form refused on its own, with its location), files refused whole at receipt (schema, syntax, hostile XML)
with a NOK receipt and nothing else kept, mandates, the size limit, and the export validating against the
official XSD."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from kruispunt.employers import dimona_xml, service, xmlsafe
from kruispunt.employers.models import declaration_table, dimona_period_table, submission_table
from kruispunt.employers.xmlsafe import XmlRefused
from kruispunt.ids import make_dimona_period_id
from tests.employers.conftest import EmployersApp

HEAD = """<Identification>DIMONA</Identification><FormCreationDate>2024-11-05</FormCreationDate>
<FormCreationHour>10:00:00.000</FormCreationHour><AttestationStatus>0</AttestationStatus><TypeForm>SU</TypeForm>"""


def form_in(
    kbo: str,
    insz: str,
    *,
    start: str = "2024-11-10",
    worker_type: str = "OTH",
    extra: str = "",
    rsz: str = "",
) -> str:
    employer = (
        f"<NOSSRegistrationNbr>{rsz}</NOSSRegistrationNbr>" if rsz else ""
    ) + f"<CompanyID>{kbo}</CompanyID>"
    return f"""<Form>{HEAD}
<DimonaIn>
  <StartingDate>{start}</StartingDate>{extra}
  <EmployerId>{employer}</EmployerId>
  <NaturalPerson><INSS>{insz}</INSS><WorkerName>Peeters</WorkerName></NaturalPerson>
  <DimonaFeatures><JointCommissionNbr>XXX</JointCommissionNbr><WorkerType>{worker_type}</WorkerType></DimonaFeatures>
</DimonaIn></Form>"""


def form_out(period_id: str, end: str) -> str:
    return f"""<Form>{HEAD}<DimonaOut><DimonaPeriodId>{period_id}</DimonaPeriodId>
<EndingDate>{end}</EndingDate></DimonaOut></Form>"""


def dimona(*forms: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n<Dimona>\n" + "\n".join(forms) + "\n</Dimona>\n"
    ).encode()


def upload(api: EmployersApp, data: bytes, declarant: str | None = None, name: str = "dimona.xml") -> Any:
    return api.client.post(
        f"/dimona/files?filename={name}",
        content=data,
        headers=api.headers(declarant, **{"content-type": "application/xml"}),
    )


def counts(api: EmployersApp) -> tuple[int, int, int]:
    with api.ctx.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (submission_table, declaration_table, dimona_period_table)
        )


def bad_check(insz: str) -> str:
    return insz[:9] + f"{(int(insz[9:]) + 1) % 100:02d}"


# ------------------------------------------------------------------------------------------------ reading


def test_parse_every_kind_with_its_location() -> None:
    data = dimona(
        form_in(
            "0870000027",
            "80010100107",
            extra="<StartingHour>0800</StartingHour><PlannedHoursNbr>12</PlannedHoursNbr>",
        ),
        form_out("500000000195", "2024-12-31"),
        f"<Form>{HEAD}<DimonaUpdate><DimonaPeriodId>500000000195</DimonaPeriodId><EndingDate>9999-12-31</EndingDate>"
        "</DimonaUpdate></Form>",
        f"<Form>{HEAD}<DimonaCancel><DimonaPeriodId>500000000195</DimonaPeriodId><INSS>80010100107</INSS>"
        "</DimonaCancel></Form>",
        f"<Form>{HEAD}<DailyRegistrationDeclaration><AttestationStatus>1</AttestationStatus>"
        "<DailyRegistrationId>500000000195</DailyRegistrationId><EndingHour>2200</EndingHour>"
        "</DailyRegistrationDeclaration></Form>",
    )
    parsed = dimona_xml.parse_dimona_file(data)
    assert [d.kind for d in parsed] == [
        "DimonaIn",
        "DimonaOut",
        "DimonaUpdate",
        "DimonaCancel",
        "DailyRegistration",
    ]
    first = parsed[0]
    assert (first.employer_kbo, first.insz, first.worker_type, first.joint_committee) == (
        "0870000027",
        "80010100107",
        "OTH",
        "XXX",
    )
    assert (first.start, first.start_hour, first.planned_hours) == (dt.date(2024, 11, 10), "0800", 12)
    assert first.extra["naturalPerson"] == {"WorkerName": "Peeters"}
    assert first.locate("INSS") == "/Dimona/Form[1]/DimonaIn/NaturalPerson/INSS"
    assert first.lines["INSS"] > first.lines["StartingDate"] > 1
    assert parsed[1].period_id == "500000000195"
    assert parsed[1].end == dt.date(2024, 12, 31)
    assert parsed[2].end == dt.date(9999, 12, 31)
    assert parsed[3].insz == "80010100107"
    assert parsed[3].locate("INSS") == "/Dimona/Form[4]/DimonaCancel/INSS"
    assert (parsed[4].attestation_status, parsed[4].registration_id, parsed[4].end_hour) == (
        1,
        "500000000195",
        "2200",
    )
    assert parsed[4].locate("EndingHour") == "/Dimona/Form[5]/DailyRegistrationDeclaration/EndingHour"


@pytest.mark.parametrize(
    "data",
    [
        b"<Dimona/>",
        b"<Dimona><Form>",
        dimona(form_in("0870000027", "80010100107", worker_type="XYZ")),
        dimona(form_in("0870000027", "80010100107", start="2024-02-30")),
    ],
)
def test_unreadable_or_invalid_files_are_refused(data: bytes) -> None:
    with pytest.raises(XmlRefused):
        dimona_xml.parse_dimona_file(data)


# ------------------------------------------------------------------------------------------------- upload


def test_single_file_accepted(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    response = upload(api, dimona(form_in(boss["kbo"], api.workers[0], rsz=boss["rsz"])))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["resultCode"] == 1
    assert body["links"]["acrf"] == f"/submissions/{body['ticket']}/acrf"
    [d] = body["declarations"]
    assert (d["sequence"], d["kind"], d["result"], d["anomalies"]) == (1, "DimonaIn", "A", [])
    assert counts(api) == (1, 1, 1)
    got = api.client.get(f"/submissions/{body['ticket']}", headers=api.headers()).json()
    assert (got["channel"], got["form"], got["filename"], got["declarationCount"], got["refused"]) == (
        "xml",
        "DIMONA",
        "dimona.xml",
        1,
        0,
    )
    assert got["declarations"][0]["periodId"] == d["periodId"]


def test_batch_with_one_bad_form_keeps_the_others(employers_app: EmployersApp) -> None:
    api = employers_app
    kbo = api.employers[0]["kbo"]
    data = dimona(
        form_in(kbo, api.workers[0]),
        form_in(kbo, bad_check(api.workers[1])),
        form_in(kbo, api.workers[2], start="2024-11-01"),
    )
    response = upload(api, data)
    assert response.status_code == 201, response.text
    first, bad, late = response.json()["declarations"]
    assert (first["result"], bad["result"], late["result"]) == ("A", "B", "W")
    [a] = bad["anomalies"]
    assert a["errorId"] == "00024-004"
    assert a["anomalyClass"] == "B"
    assert a["location"] == "/Dimona/Form[2]/DimonaIn/NaturalPerson/INSS"
    assert (
        a["line"]
        == data.decode()
        .splitlines()
        .index(next(line for line in data.decode().splitlines() if bad_check(api.workers[1]) in line))
        + 1
    )
    assert bad["periodId"] is None
    assert first["periodId"]
    assert late["periodId"]
    assert counts(api) == (1, 3, 2)
    with api.ctx.engine.connect() as conn:
        row = service.get_submission(conn, response.json()["ticket"])
    assert row is not None
    assert (row.declarations, row.refused) == (3, 1)
    logged = api.logged()
    assert [(e.outcome, e.message_type) for e in logged] == [
        ("ACCEPTED", "DimonaIn"),
        ("REFUSED", "DimonaIn"),
        ("ACCEPTED_WITH_ANOMALIES", "DimonaIn"),
    ]
    assert logged[0].ticket == response.json()["ticket"]
    assert len({e.ticket for e in logged}) == 3


def test_batch_in_then_out_of_a_period_and_an_out_for_no_period(employers_app: EmployersApp) -> None:
    api = employers_app
    kbo = api.employers[0]["kbo"]
    first = upload(api, dimona(form_in(kbo, api.workers[3]))).json()["declarations"][0]["periodId"]
    response = upload(
        api,
        dimona(form_out(first, "2024-12-31"), form_out(make_dimona_period_id(5_000_999_999), "2024-12-31")),
    )
    done, unknown = response.json()["declarations"]
    assert done["result"] == "A"
    assert done["periodId"] == first
    assert unknown["result"] == "B"
    assert [a["errorId"] for a in unknown["anomalies"]] == ["00913-003"]
    assert unknown["anomalies"][0]["location"] == "/Dimona/Form[2]/DimonaOut/DimonaPeriodId"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"<Dimona><Form></Dimona>", "NOT_WELL_FORMED"),
        (b"<Dimona/>", "SCHEMA_VIOLATION"),
        (dimona(form_in("0870000027", "80010100107", worker_type="XYZ")), "SCHEMA_VIOLATION"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><Dimona>&lol3;</Dimona>',
            "DOCTYPE_REFUSED",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Dimona>&xxe;</Dimona>',
            "DOCTYPE_REFUSED",
        ),
    ],
)
def test_files_refused_whole_at_receipt(employers_app: EmployersApp, data: bytes, code: str) -> None:
    api = employers_app
    response = upload(api, data)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["resultCode"] == 0
    assert "root:" not in response.text  # nothing of /etc/passwd
    ticket = body["ticket"]
    assert counts(api) == (1, 0, 0)
    with api.ctx.engine.connect() as conn:
        row = service.get_submission(conn, ticket)
    assert row is not None
    assert row.result_code == 0
    assert row.errors[0]["code"] == code
    acrf = api.client.get(f"/submissions/{ticket}/acrf", headers=api.headers())
    assert acrf.status_code == 200
    assert acrf.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(acrf.content)
    assert xmlsafe.schema("acrf").validate(root)
    assert root.findtext("Form/ReceptionResult/ResultCode") == "0"
    assert root.findtext("Form/ReceptionResult/ErrorID") == "90059-003"
    [entry] = api.logged()
    assert (entry.outcome, entry.reason_code, entry.ticket) == ("REFUSED", code, ticket)


def test_a_form_without_mandate_refuses_the_whole_file(employers_app: EmployersApp) -> None:
    api = employers_app
    boss, other = api.employers[0], api.employers[1]
    data = dimona(form_in(boss["kbo"], api.workers[0]), form_in(other["kbo"], api.workers[1]))
    response = upload(api, data, declarant=boss["kbo"])
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "NO_MANDATE"
    assert counts(api) == (0, 0, 0)
    [entry] = api.logged()
    assert (entry.outcome, entry.reason_code) == ("REFUSED", "NO_MANDATE")


def test_a_mandated_social_secretariat_sends_a_file_for_two_employers(employers_app: EmployersApp) -> None:
    api = employers_app
    secretariat = api.employers[3]["kbo"]
    with api.ctx.engine.begin() as conn:
        for e in api.employers[:2]:
            service.grant_mandate(
                conn,
                employer_kbo=e["kbo"],
                declarant_kbo=secretariat,
                role=11,
                start=dt.date(2024, 1, 1),
                end=None,
            )
    data = dimona(
        form_in(api.employers[0]["kbo"], api.workers[0]), form_in(api.employers[1]["kbo"], api.workers[0])
    )
    response = upload(api, data, declarant=secretariat)
    assert response.status_code == 201
    assert [d["result"] for d in response.json()["declarations"]] == ["A", "A"]
    # each employer reads the submission; a third party does not
    ticket = response.json()["ticket"]
    assert (
        api.client.get(f"/submissions/{ticket}", headers=api.headers(api.employers[1]["kbo"])).status_code
        == 200
    )
    assert (
        api.client.get(f"/submissions/{ticket}", headers=api.headers(api.employers[2]["kbo"])).status_code
        == 403
    )


def test_file_size_limit(employers_app: EmployersApp) -> None:
    api = employers_app
    api.ctx.max_file_bytes = 2_000
    data = dimona(*[form_in(api.employers[0]["kbo"], w) for w in api.workers[:6]])
    assert len(data) > 2_000
    response = upload(api, data)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BODY_TOO_LARGE"
    assert counts(api) == (0, 0, 0)


# ------------------------------------------------------------------------------------------------- export


def test_export_validates_and_reads_back(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    kbo = boss["kbo"]
    data = dimona(
        form_in(
            kbo, api.workers[0], extra="<StartingHour>0800</StartingHour><EndingDate>2024-12-31</EndingDate>"
        ),
        form_in(
            kbo,
            api.workers[1],
            worker_type="STU",
            extra="<EndingDate>2024-12-20</EndingDate><PlannedHoursNbr>40</PlannedHoursNbr>",
        ),
        form_in(kbo, api.workers[2]),
    )
    answers = upload(api, data).json()["declarations"]
    assert [a["result"] for a in answers] == ["A", "A", "A"]
    cancelled = answers[2]["periodId"]
    assert (
        api.client.post(
            "/declarations", json={"dimonaCancel": {"periodId": cancelled}}, headers=api.headers()
        ).status_code
        == 201
    )
    with api.ctx.engine.connect() as conn:
        out = dimona_xml.export_periods(conn, employer_kbo=kbo)
        one = dimona_xml.export_periods(conn, employer_kbo=kbo, insz=api.workers[1])
        with pytest.raises(dimona_xml.NoPeriods):
            dimona_xml.export_periods(conn, employer_kbo=api.employers[2]["kbo"])
    root = etree.fromstring(out)
    assert xmlsafe.schema("dimona").validate(root), xmlsafe.schema("dimona").error_log
    back = dimona_xml.parse_dimona_file(out)
    assert sorted(
        (d.insz, d.worker_type, d.start, d.end, d.start_hour, d.planned_hours) for d in back
    ) == sorted(
        [
            (api.workers[0], "OTH", dt.date(2024, 11, 10), dt.date(2024, 12, 31), "0800", None),
            (api.workers[1], "STU", dt.date(2024, 11, 10), dt.date(2024, 12, 20), None, 40),
        ]
    )
    assert {d.employer_kbo for d in back} == {kbo}
    assert {d.employer_rsz for d in back} == {boss["rsz"]}
    assert {r["number"] for d in back for r in d.extra["references"]} == {a["periodId"] for a in answers[:2]}
    assert [d.insz for d in dimona_xml.parse_dimona_file(one)] == [api.workers[1]]
