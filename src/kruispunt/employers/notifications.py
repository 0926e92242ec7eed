"""The acknowledgement of receipt (ACRF001, ``ACRF_20231.xsd``) and the notification (NOTI001,
``NOTIFICATION_20223.xsd``) of a submission, built from its stored rows — for every declaration kind.

The receipt says whether the thing sent could be read at all (ResultCode 1) or was refused whole (0, with
the error); the notification gives, per declaration (one ``Form`` each), its result, every anomaly with its
official ``ZZZZZ-EEE`` id, class and location, and — for Dimona — the period before and after
(``ImpactReport``). Both read only the ``submission`` and ``declaration`` rows (no database access), so DmfA
and DRS submissions get the same documents.

Assumptions where the sources are silent: the reception channel (zone 00737) has no published code list
here, so ``CHANNELS`` numbers ours; the ticket is the reference assigned by social security
(ReferenceOrigin 2) — the ACRF's ``ReferenceNbr`` holds at most 20 characters, so a longer ticket (our
UUIDs) is given in full as the ``FileName`` when the file had none, and ``ReferenceNbr`` is left out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lxml import etree

CHANNELS: Mapping[str, int] = {"xml": 1, "rest": 2}
"""Zone 00737 (channel of reception) as we number it: 1 a file, 2 a web-service (REST) call; 0 other."""
REFERENCE_BY_SOCIAL_SECURITY = "2"
FILE_ERROR_ID = "90059-003"
"""A file refused whole (not well-formed, not valid against its schema): the Form block (90059), invalid."""
ACRF_REFERENCE_MAX = 20
NOTI_FILE_NAME_MAX = 64
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INSZ = re.compile(r"\d{11}")
_KBO = re.compile(r"[01]\d{9}")
_HOUR = re.compile(r"(([01]\d)|(2[0-3]))[0-5]\d")
_NOTI_WORKER_TYPES = frozenset(
    {"A17", "BCW", "DWD", "EXT", "FLX", "IVT", "O17", "PMP", "QUA", "RTA", "S17", "STU", "STX", "T17", "TEA"}
    | {"TRI", "STG", "OTH"}
)
"""WorkerType as ``NOTIFICATION_20223.xsd`` enumerates it (ALT came later: left out of the notification)."""


def _clean(value: object, limit: int | None = None) -> str:
    """Text that XML 1.0 can carry (control characters dropped), cut at ``limit``."""
    out = _NOT_XML.sub("", str(value))
    return out[:limit] if limit is not None else out


def _sub(parent: etree._Element, tag: str, value: object = None) -> etree._Element:
    child = etree.SubElement(parent, tag)
    if value is not None:
        child.text = _clean(value)
    return child


def _moment(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _date(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _hour(value: dt.datetime) -> str:
    return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _head(form: etree._Element, identification: str, created: dt.datetime) -> None:
    _sub(form, "Identification", identification)
    _sub(form, "FormCreationDate", _date(created))
    _sub(form, "FormCreationHour", _hour(created))
    _sub(form, "AttestationStatus", 0)
    _sub(form, "TypeForm", "FA")


def _bytes(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _errors(submission: Any) -> list[Mapping[str, Any]]:
    return [e for e in (submission.errors or []) if isinstance(e, Mapping)]


def _error_id(error: Mapping[str, Any]) -> str:
    found = error.get("errorId")
    return str(found)[:9] if found else FILE_ERROR_ID


def acrf_xml(submission: Any) -> bytes:
    """The ACRF001 acknowledgement of receipt of a submission row: ResultCode 1 when it was read, 0 with the
    error id(s) when it was refused whole."""
    received = _moment(submission.received_at)
    root = etree.Element("ACRF")
    form = _sub(root, "Form")
    _head(form, "ACRF001", received)
    ref = _sub(form, "FileReference")
    ticket = str(submission.ticket)
    _sub(ref, "FileName", _clean(submission.filename or "", None) or ticket)
    _sub(ref, "ReferenceOrigin", REFERENCE_BY_SOCIAL_SECURITY)
    if len(ticket) <= ACRF_REFERENCE_MAX:
        _sub(ref, "ReferenceNbr", ticket)
    result = _sub(form, "ReceptionResult")
    _sub(result, "ResultCode", 1 if int(submission.result_code) == 1 else 0)
    if int(submission.result_code) != 1:
        ids = [_error_id(e) for e in _errors(submission)] or [FILE_ERROR_ID]
        for error_id in dict.fromkeys(ids):
            _sub(result, "ErrorID", error_id)
    return _bytes(root)


def _file_blocks(form: etree._Element, submission: Any, received: dt.datetime) -> None:
    ref = _sub(form, "FileReference")
    _sub(ref, "FileName", _clean(submission.filename or "", NOTI_FILE_NAME_MAX) or submission.ticket)
    _sub(ref, "ReferenceOrigin", REFERENCE_BY_SOCIAL_SECURITY)
    _sub(ref, "ReferenceNbr", _clean(submission.ticket, 64))
    info = _sub(form, "FileReceptionInformation")
    _sub(info, "ReceptionDate", _date(received))
    _sub(info, "ReceptionHour", _hour(received))
    _sub(info, "Channel", CHANNELS.get(str(submission.channel), 0))
    handled = _sub(form, "HandledOriginalForm")
    _sub(handled, "Identification", _clean(submission.form, 7))


def _handled_reference(form: etree._Element, number: str) -> None:
    ref = _sub(form, "HandledReference")
    _sub(ref, "ReferenceType", 1)
    _sub(ref, "ReferenceOrigin", REFERENCE_BY_SOCIAL_SECURITY)
    _sub(ref, "ReferenceNbr", _clean(number, 64))


def _anomaly(result: etree._Element, a: Mapping[str, Any], *, employer: str | None, insz: str | None) -> None:
    report = _sub(result, "AnomalyReport")
    error_id = str(a.get("errorId") or f"{a.get('zone', '')}-{a.get('error', '')}")
    _sub(report, "ErrorID", error_id[:9])
    if a.get("tag"):
        _sub(report, "TagName", a["tag"])
    if a.get("value") is not None:
        _sub(report, "Value", a["value"])
    _sub(report, "AnomalyClass", str(a.get("anomalyClass", "B"))[:2])
    label = a.get("message") or a.get("errorLabel")
    if label:
        _sub(report, "AnomalyLabel", _clean(label, 500))
    line, column, location = a.get("line"), a.get("column"), a.get("location")
    if line or column or location:
        where = _sub(report, "AnomalyLocation")
        if isinstance(line, int) and line >= 1:
            _sub(where, "LineNbr", line)
        if isinstance(column, int) and column >= 1:
            _sub(where, "ColumnNbr", column)
        if location:
            _sub(where, "Location", _clean(location, 200))
    if (employer and _KBO.fullmatch(employer)) or (insz and _INSZ.fullmatch(insz)):
        path = _sub(report, "Path")
        if employer and _KBO.fullmatch(employer):
            _sub(path, "CompanyID", employer)
        if insz and _INSZ.fullmatch(insz):
            _sub(path, "INSS", insz)


def _period_times(
    parent: etree._Element, tag: str, state: Mapping[str, Any] | None, *, planned: bool
) -> None:
    if not state:
        return
    block = _sub(parent, tag)
    for key, name in (("startDate", "StartingDate"), ("startHour", "StartingHour")):
        if state.get(key):
            _sub(block, name, state[key])
    for key, name in (("endDate", "EndingDate"), ("endHour", "EndingHour")):
        if state.get(key):
            _sub(block, name, state[key])
    hours = state.get("plannedHoursNumber")
    if planned and isinstance(hours, int) and 1 <= hours <= 999:
        _sub(block, "PlannedHoursNbr", hours)


def _valid_times(state: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not state:
        return None
    out = dict(state)
    for key in ("startHour", "endHour"):
        if out.get(key) is not None and not _HOUR.fullmatch(str(out[key])):
            out.pop(key)
    return out


def _impact(result: etree._Element, impact: Mapping[str, Any], attestation: Any) -> None:
    """The Dimona period (or daily registration) before and after the declaration."""
    before = _valid_times(impact.get("before"))
    after = _valid_times(impact.get("after"))
    current = after or before or {}
    if not current.get("id"):
        return
    report = _sub(result, "ImpactReport")
    if current.get("periodId"):  # a daily registration
        block = _sub(report, "DailyRegistrationDclImpactReport")
        _sub(block, "DailyRegistrationId", current["id"])
        if attestation in (0, 1, 3):
            _sub(block, "AttestationStatus", attestation)
        _sub(block, "DimonaPeriodId", current["periodId"])
        _period_times(block, "DailyRegistrationBefore", before, planned=False)
        _period_times(block, "DailyRegistrationAfter", after, planned=False)
        return
    block = _sub(report, "DimonaImpactReport")
    _sub(block, "DimonaPeriodId", current["id"])
    _sub(block, "IsLocked", 1 if current.get("locked") else 0)
    worker_type = current.get("workerType")
    committee = current.get("jointCommissionNumber")
    if worker_type in _NOTI_WORKER_TYPES or committee:
        features = _sub(block, "DimonaFeatures")
        if committee:
            _sub(features, "JointCommissionNbr", committee)
        if worker_type in _NOTI_WORKER_TYPES:
            _sub(features, "WorkerType", worker_type)
    _period_times(block, "DimonaPeriodBefore", before, planned=True)
    _period_times(block, "DimonaPeriodAfter", after, planned=True)


def notification_xml(submission: Any, declarations: Sequence[Any] | Iterable[Any]) -> bytes:
    """The NOTI001 notification of a submission: one ``Form`` per declaration (in sequence order) with its
    result and anomalies; one ``Form`` with the refusal when the submission was refused whole (or held no
    declaration)."""
    received = _moment(submission.received_at)
    root = etree.Element("NOTIFICATION")
    rows = list(declarations)
    for row in rows:
        form = _sub(root, "Form")
        _head(form, "NOTI001", received)
        _file_blocks(form, submission, received)
        insz = row.insz if row.insz and _INSZ.fullmatch(str(row.insz)) else None
        if insz:
            person = _sub(form, "NaturalPerson")
            _sub(person, "INSS", insz)
        _handled_reference(form, str(row.id))
        result = _sub(form, "HandlingResult")
        _sub(result, "ResultCode", 0 if row.result == "B" else 1)
        if row.result == "B":
            _sub(result, "Diagnosis", 3)
        for a in row.anomalies or []:
            if isinstance(a, Mapping):
                _anomaly(result, a, employer=row.employer_kbo, insz=insz)
        body = row.body if isinstance(row.body, Mapping) else {}
        impact = body.get("impact")
        if row.result != "B" and isinstance(impact, Mapping):
            _impact(result, impact, body.get("attestationStatus", 0))
    if not rows:
        form = _sub(root, "Form")
        _head(form, "NOTI001", received)
        _file_blocks(form, submission, received)
        _handled_reference(form, str(submission.ticket))
        result = _sub(form, "HandlingResult")
        refused = int(submission.result_code) != 1
        _sub(result, "ResultCode", 0 if refused else 1)
        if refused:
            _sub(result, "Diagnosis", 0)
        for error in _errors(submission):
            _anomaly(
                result,
                {
                    "errorId": _error_id(error),
                    "anomalyClass": "B",
                    "message": error.get("message"),
                    "line": error.get("line"),
                    "column": error.get("column"),
                    "location": error.get("location"),
                },
                employer=None,
                insz=None,
            )
    return _bytes(root)
