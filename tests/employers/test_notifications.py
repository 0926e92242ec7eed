"""The ACRF001 receipt and the NOTI001 notification: valid against the official XSDs (ACRF_20231,
NOTIFICATION_20223) for accepted, warned and refused declarations, daily registrations, files refused whole,
and rows of any declaration kind (built from the rows alone); and who may read them."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from lxml import etree

from kruispunt.employers import notifications, xmlsafe
from kruispunt.employers.anomalies import anomaly
from tests.employers.conftest import EmployersApp
from tests.employers.test_dimona import change, declared, dimona_in, period_of
from tests.employers.test_dimona_xml import bad_check, dimona, form_in, upload


def valid(data: bytes, schema: str) -> etree._Element:
    root = etree.fromstring(data)
    xsd = xmlsafe.schema(schema)
    assert xsd.validate(root), xsd.error_log
    return root


def fetch(api: EmployersApp, ticket: str, what: str, declarant: str | None = None) -> etree._Element:
    response = api.client.get(f"/submissions/{ticket}/{what}", headers=api.headers(declarant))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return valid(response.content, "acrf" if what == "acrf" else "notification")


def test_receipt_and_notification_of_a_batch(employers_app: EmployersApp) -> None:
    api = employers_app
    kbo = api.employers[0]["kbo"]
    wrong = bad_check(api.workers[1])
    data = dimona(
        form_in(kbo, api.workers[0]), form_in(kbo, wrong), form_in(kbo, api.workers[2], start="2024-11-01")
    )
    body = upload(api, data, name="batch-1.xml").json()
    ticket = body["ticket"]

    acrf = fetch(api, ticket, "acrf")
    assert acrf.findtext("Form/Identification") == "ACRF001"
    assert acrf.findtext("Form/FileReference/FileName") == "batch-1.xml"
    assert acrf.findtext("Form/ReceptionResult/ResultCode") == "1"
    assert acrf.find("Form/ReceptionResult/ErrorID") is None

    noti = fetch(api, ticket, "notification")
    forms = noti.findall("Form")
    assert len(forms) == 3
    assert {f.findtext("Identification") for f in forms} == {"NOTI001"}
    assert [f.findtext("HandlingResult/ResultCode") for f in forms] == ["1", "0", "1"]
    assert [f.findtext("HandledReference/ReferenceNbr") for f in forms] == [
        str(d["id"]) for d in body["declarations"]
    ]
    assert forms[0].findtext("FileReference/ReferenceNbr") == ticket
    assert forms[0].findtext("FileReceptionInformation/Channel") == "1"
    assert (
        forms[0].findtext("HandlingResult/ImpactReport/DimonaImpactReport/DimonaPeriodId")
        == body["declarations"][0]["periodId"]
    )
    assert forms[0].findtext(
        "HandlingResult/ImpactReport/DimonaImpactReport/DimonaPeriodAfter/StartingDate"
    ) == ("2024-11-10")
    [report] = forms[1].findall("HandlingResult/AnomalyReport")
    assert report.findtext("ErrorID") == "00024-004"
    assert report.findtext("AnomalyClass") == "B"
    assert report.findtext("TagName") == "INSS"
    assert report.findtext("Value") == wrong
    assert report.findtext("AnomalyLocation/Location") == "/Dimona/Form[2]/DimonaIn/NaturalPerson/INSS"
    assert int(report.findtext("AnomalyLocation/LineNbr") or 0) > 1
    assert report.findtext("Path/CompanyID") == kbo
    assert forms[1].findtext("HandlingResult/Diagnosis") == "3"
    assert forms[1].find("HandlingResult/ImpactReport") is None
    assert [r.findtext("AnomalyClass") for r in forms[2].findall("HandlingResult/AnomalyReport")] == ["W"]


def test_notifications_of_rest_changes_and_daily_registrations(employers_app: EmployersApp) -> None:
    api = employers_app
    boss = api.employers[0]
    pid = period_of(declared(api, dimona_in(boss, api.workers[3], worker_type="EXT", end="2024-12-31")))
    out = declared(api, change("dimonaOut", boss, periodId=pid, endDate="2024-12-15"))
    noti = fetch(api, out["ticket"], "notification")
    impact = noti.find("Form/HandlingResult/ImpactReport/DimonaImpactReport")
    assert impact is not None
    assert impact.findtext("DimonaPeriodBefore/EndingDate") == "2024-12-31"
    assert impact.findtext("DimonaPeriodAfter/EndingDate") == "2024-12-15"
    assert impact.findtext("DimonaFeatures/WorkerType") == "EXT"
    assert noti.findtext("Form/FileReceptionInformation/Channel") == "2"
    assert noti.findtext("Form/NaturalPerson/INSS") == api.workers[3]

    reg = declared(
        api,
        change(
            "dailyRegistration",
            boss,
            attestationStatus=0,
            periodId=pid,
            startDate="2024-11-20",
            startHour="1800",
        ),
    )
    noti = fetch(api, reg["ticket"], "notification")
    daily = noti.find("Form/HandlingResult/ImpactReport/DailyRegistrationDclImpactReport")
    assert daily is not None
    assert daily.findtext("DailyRegistrationId") == period_of(reg)
    assert daily.findtext("DimonaPeriodId") == pid
    assert daily.findtext("DailyRegistrationAfter/StartingHour") == "1800"
    fetch(api, reg["ticket"], "acrf")


def test_a_file_refused_whole_has_a_notification_with_the_error(employers_app: EmployersApp) -> None:
    api = employers_app
    body = upload(api, b"<Dimona><Form></Form></Dimona>").json()
    noti = fetch(api, body["ticket"], "notification")
    [form] = noti.findall("Form")
    assert form.findtext("HandlingResult/ResultCode") == "0"
    assert form.findtext("HandlingResult/AnomalyReport/ErrorID") == "90059-003"
    assert form.findtext("HandlingResult/AnomalyReport/AnomalyLocation/LineNbr") == "1"


def test_who_reads_a_submission(employers_app: EmployersApp) -> None:
    api = employers_app
    ticket = declared(api, dimona_in(api.employers[0], api.workers[4]))["ticket"]
    for what in ("", "/acrf", "/notification"):
        assert (
            api.client.get(
                f"/submissions/{ticket}{what}", headers=api.headers(api.employers[1]["kbo"])
            ).status_code
            == 403
        )
        assert api.client.get(f"/submissions/{ticket}{what}").status_code == 400
        missing = api.client.get(f"/submissions/no-such-ticket{what}", headers=api.headers())
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "UNKNOWN_SUBMISSION"


# ------------------------------------------------------------------------------------- from rows alone


def _submission(**values: Any) -> SimpleNamespace:
    base: dict[str, Any] = {
        "ticket": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "channel": "xml",
        "form": "DMFA",
        "declarant_kbo": "0403170701",
        "filename": None,
        "received_at": dt.datetime(2024, 11, 5, 9, 30, 1, 250000),
        "result_code": 1,
        "errors": [],
        "declarations": 1,
        "refused": 0,
    }
    return SimpleNamespace(**{**base, **values})


def test_documents_for_any_kind_of_declaration_from_rows() -> None:
    found = [
        anomaly(
            "00036",
            "008",
            "P",
            "worker code not in the domain",
            tag="WorkerCode",
            value="999",
            location="/DmfAOriginal/Form/EmployerDeclaration/NaturalPerson[1]/WorkerRecord[1]/WorkerCode",
            line=41,
        ),
        anomaly("00023", "006", "W", "x" * 900, value="\x01odd\x02 value"),
    ]
    declaration = SimpleNamespace(
        id=7,
        ticket="0f8fad5b-d9cb-469f-a165-70867728950e",
        sequence=1,
        kind="DMFA",
        employer_kbo="0403170701",
        insz="80010100107",
        period_id=None,
        result="W",
        anomalies=[a.as_json() for a in found],
        body={"quarter": 20243},
    )
    submission = _submission(filename="a\x00name\x07 that is long " + "y" * 100 + ".xml")
    valid(notifications.acrf_xml(submission), "acrf")
    root = valid(notifications.notification_xml(submission, [declaration]), "notification")
    reports = root.findall("Form/HandlingResult/AnomalyReport")
    assert [r.findtext("ErrorID") for r in reports] == ["00036-008", "00023-006"]
    assert [r.findtext("AnomalyClass") for r in reports] == ["P", "W"]
    assert reports[0].findtext("AnomalyLocation/LineNbr") == "41"
    assert len(reports[1].findtext("AnomalyLabel") or "") == 500
    assert root.findtext("Form/HandledOriginalForm/Identification") == "DMFA"
    assert root.findtext("Form/FormCreationHour") == "09:30:01.250"

    refused = _submission(
        result_code=0, errors=[{"code": "SCHEMA_VIOLATION", "message": "not valid", "line": 3, "column": 7}]
    )
    acrf = valid(notifications.acrf_xml(refused), "acrf")
    assert acrf.findtext("Form/ReceptionResult/ResultCode") == "0"
    # a ticket longer than the ACRF's reference (20) is given as the file name
    assert acrf.findtext("Form/FileReference/FileName") == refused.ticket
    assert acrf.find("Form/FileReference/ReferenceNbr") is None
    noti = valid(notifications.notification_xml(refused, []), "notification")
    assert noti.findtext("Form/HandlingResult/AnomalyReport/AnomalyLocation/ColumnNbr") == "7"
    short = valid(notifications.acrf_xml(_submission(ticket="T20241105000001")), "acrf")
    assert short.findtext("Form/FileReference/ReferenceNbr") == "T20241105000001"
