"""Dimona as XML files (``Dimona_20231.xsd``): reading a file into declarations, and writing an employer's
periods back out as one.

A file is small (one Form per declaration), so it is read whole with the hardened parser of
:mod:`~kruispunt.employers.xmlsafe` and validated against the official XSD first: a file that is not
well-formed, carries a DOCTYPE or breaks the schema raises :class:`~kruispunt.employers.xmlsafe.XmlRefused`
and nothing in it is considered. Each Form then becomes one
:class:`~kruispunt.employers.dimona.DimonaDeclaration` that knows where it was (``/Dimona/Form[n]/…``
and the line of every element), for its anomalies.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from lxml import etree
from sqlalchemy import Connection, and_, select

from kruispunt.employers import codes, service, xmlsafe
from kruispunt.employers.dimona import FORM, KINDS, XML_ELEMENT, DimonaDeclaration, Kind
from kruispunt.employers.models import dimona_period_table

_KIND_OF: dict[str, Kind] = {XML_ELEMENT[k]: k for k in KINDS}
_HOUR = re.compile(r"(([01]\d)|(2[0-3]))[0-5]\d")


class NoPeriods(LookupError):
    """The export would be empty: a Dimona file holds at least one Form."""


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None else None


def _hour(value: str | None) -> str | None:
    """``StartingHour`` is an ``xs:integer`` of 4 digits (the pattern keeps the leading zero)."""
    return value.zfill(4) if value is not None else None


def _form(form: etree._Element, index: int) -> DimonaDeclaration:
    body = next(child for child in form if isinstance(child.tag, str) and child.tag in _KIND_OF)
    kind = _KIND_OF[str(body.tag)]
    lines: dict[str, int] = {}
    values: dict[str, str | None] = {}
    for el in body.iter():
        if not isinstance(el.tag, str):
            continue
        tag = str(el.tag)
        if tag not in values:  # the first one: the UsingEmployer's JointCommissionNbr comes after ours
            values[tag] = _text(el)
            line = el.sourceline
            if isinstance(line, int):
                lines[tag] = line
    natural = body.find("NaturalPerson")
    insz = _text(natural.find("INSS")) if natural is not None else _text(body.find("INSS"))
    features = body.find("DimonaFeatures")
    extra: dict[str, Any] = {}
    references = [
        {
            "type": _text(r.find("ReferenceType")),
            "origin": _text(r.find("ReferenceOrigin")),
            "number": _text(r.find("ReferenceNbr")),
        }
        for r in form.findall("Reference")
    ]
    if references:
        extra["references"] = references
    if natural is not None:
        person = {
            str(el.tag): _text(el)
            for el in natural
            if isinstance(el.tag, str) and el.tag != "INSS" and _text(el) is not None
        }
        if person:
            extra["naturalPerson"] = person
    for block in ("StudentPlaceOfWork", "SmallStatutesInformation", "ConstructionControlCards"):
        found = body.find(block)
        if found is not None:
            extra[block] = {
                str(el.tag): _text(el)
                for el in found.iter()
                if isinstance(el.tag, str) and _text(el) is not None
            }
    if features is not None and features.find("UsingEmployer") is not None:
        using = features.find("UsingEmployer")
        assert using is not None
        extra["UsingEmployer"] = {
            str(el.tag): _text(el) for el in using.iter() if isinstance(el.tag, str) and _text(el) is not None
        }
    employer = body.find("EmployerId")
    return DimonaDeclaration(
        kind=kind,
        channel="xml",
        employer_kbo=_text(employer.find("CompanyID")) if employer is not None else None,
        employer_rsz=(
            _text(employer.find("NOSSRegistrationNbr")) or _text(employer.find("ProvisionalNSSONbr"))
            if employer is not None
            else None
        ),
        insz=insz,
        period_id=values.get("DimonaPeriodId"),
        registration_id=values.get("DailyRegistrationId"),
        attestation_status=int(values.get("AttestationStatus") or 0) if kind == "DailyRegistration" else 0,
        start=_date(values.get("StartingDate")),
        start_hour=_hour(values.get("StartingHour")),
        end=_date(values.get("EndingDate")),
        end_hour=_hour(values.get("EndingHour")),
        planned_hours=_int(values.get("PlannedHoursNbr")),
        planned_days=_int(values.get("PlannedDaysNbr")),
        worker_type=_text(features.find("WorkerType")) if features is not None else None,
        joint_committee=_text(features.find("JointCommissionNbr")) if features is not None else None,
        extra=extra,
        form=index,
        line=body.sourceline if isinstance(body.sourceline, int) else None,
        lines=lines,
    )


def parse_dimona_file(data: bytes) -> list[DimonaDeclaration]:
    """The declarations of a Dimona file, in the order of its Forms; :class:`XmlRefused` when the file
    cannot be read or is not valid against ``Dimona_20231.xsd``."""
    root = xmlsafe.parse(data, schema_name="dimona")
    return [_form(form, i) for i, form in enumerate(root.findall("Form"), start=1)]


def _sub(parent: etree._Element, tag: str, value: object | None = None) -> etree._Element:
    child = etree.SubElement(parent, tag)
    if value is not None:
        child.text = str(value)
    return child


def export_periods(conn: Connection, *, employer_kbo: str, insz: str | None = None) -> bytes:
    """The employer's current periods (not cancelled; daily registrations left out) as a Dimona file of
    DimonaIn Forms, valid against ``Dimona_20231.xsd``; each Form carries the period id as the declarant's
    reference. :class:`NoPeriods` when there is none (a Dimona file has at least one Form)."""
    employer = service.find_employer(conn, kbo=employer_kbo)
    if employer is None:
        raise NoPeriods(f"employer {employer_kbo} is not in the repertory")
    c = dimona_period_table.c
    conditions = [c.employer_kbo == employer_kbo, c.cancelled.is_(False), c.parent_id.is_(None)]
    if insz is not None:
        conditions.append(c.insz == insz)
    rows = [
        row
        for row in conn.execute(
            select(dimona_period_table).where(and_(*conditions)).order_by(c.insz, c.start, c.id)
        )
        if row.worker_type in codes.DIMONA_WORKER_TYPES  # the XSD's list: older types cannot be written
    ]
    if not rows:
        raise NoPeriods(
            f"employer {employer_kbo} has no current Dimona period" + (f" for {insz}" if insz else "")
        )
    now = service.utc_now()
    root = etree.Element("Dimona")
    for row in rows:
        form = _sub(root, "Form")
        _sub(form, "Identification", FORM)
        _sub(form, "FormCreationDate", now.strftime("%Y-%m-%d"))
        _sub(form, "FormCreationHour", now.strftime("%H:%M:%S.") + f"{now.microsecond // 1000:03d}")
        _sub(form, "AttestationStatus", 0)
        _sub(form, "TypeForm", "SU")
        ref = _sub(form, "Reference")
        _sub(ref, "ReferenceType", 1)
        _sub(ref, "ReferenceOrigin", 1)
        _sub(ref, "ReferenceNbr", row.id)
        body = _sub(form, "DimonaIn")
        _sub(body, "StartingDate", row.start.isoformat())
        if row.start_hour and _HOUR.fullmatch(row.start_hour):
            _sub(body, "StartingHour", row.start_hour)
        if row.end is not None:
            _sub(body, "EndingDate", row.end.isoformat())
        if row.end_hour and _HOUR.fullmatch(row.end_hour):
            _sub(body, "EndingHour", row.end_hour)
        if row.planned_hours and 1 <= row.planned_hours <= 999:
            _sub(body, "PlannedHoursNbr", row.planned_hours)
        ids = _sub(body, "EmployerId")
        _sub(ids, "ProvisionalNSSONbr" if len(employer.rsz) == 10 else "NOSSRegistrationNbr", employer.rsz)
        _sub(ids, "CompanyID", employer.kbo)
        person = _sub(body, "NaturalPerson")
        _sub(person, "INSS", row.insz)
        features = _sub(body, "DimonaFeatures")
        jc = row.joint_committee if row.joint_committee in codes.DIMONA_JOINT_COMMITTEES else "XXX"
        _sub(features, "JointCommissionNbr", jc)
        _sub(features, "WorkerType", row.worker_type)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
