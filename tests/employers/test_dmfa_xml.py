"""DmfA XML: the layout read from the XSD, the streamed reader (Forms, persons, errors with their line), the
streamed writer (valid against the XSD)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from lxml import etree

from kruispunt.employers import dmfa, xmlsafe
from kruispunt.employers import dmfa_xml as dx
from kruispunt.employers.xmlsafe import XmlRefused
from kruispunt.ids import make_insz

QUARTER = 20243


def inszs(count: int, start: int = 0) -> list[str]:
    return [
        make_insz(dt.date(1975, 1, 1) + dt.timedelta(days=(start + i) // 500), (start + i) % 500 + 1)
        for i in range(count)
    ]


def form(persons: list[dict[str, Any]], *, rsz: str = "100006", company: str = "0") -> dict[str, Any]:
    return {
        "EmployerDeclaration": {
            "Quarter": str(QUARTER),
            "NOSSRegistrationNbr": int(rsz),
            "Trusteeship": 0,
            "CompanyID": company,
            "NetOwedAmount": dmfa.net_owed_of(persons),
            "NaturalPerson": persons,
        }
    }


def test_layout_comes_from_the_xsd() -> None:
    lay = dx.layout("dmfa")
    assert {"NaturalPerson", "WorkerRecord", "Occupation", "Service", "Remun", "Form"} <= lay.repeat
    assert "EmployerDeclaration" not in lay.repeat
    assert {"RemunAmount", "ServiceNbrDays", "NetOwedAmount", "RemunCode"} <= lay.ints
    # integer zones with a lexical pattern keep their zeros as strings
    assert not {"WorkerCode", "EmployerClass", "INSS", "CompanyID", "Quarter"} & lay.ints
    assert lay.order["EmployerDeclaration"][:5] == (
        "Quarter",
        "NOSSRegistrationNbr",
        "Trusteeship",
        "CompanyID",
        "NetOwedAmount",
    )
    assert lay.zones["INSS"] == "00024"
    assert dx.zone("dmfa", "NaturalPerson") == "90017"
    assert "WorkerRecordUpdateAction" in dx.layout("dmfa_update").order


def test_written_file_is_valid_and_reads_back_the_same() -> None:
    persons = list(dmfa.synthetic_persons(inszs(5), quarter=QUARTER))
    data = dx.to_xml([form(persons)])
    xmlsafe.parse(data, schema_name="dmfa")
    events = list(dx.read_forms(io.BytesIO(data)))
    assert isinstance(events[0], dx.FormHead)
    assert events[0].declaration["Quarter"] == "20243"
    assert events[0].declaration["NetOwedAmount"] == dmfa.net_owed_of(persons)
    read = [e for e in events if isinstance(e, dx.Person)]
    assert [p.data for p in read] == persons
    assert all(p.line and p.line > 1 for p in read)
    assert read[1].records_lines[0] is not None
    assert read[1].records_lines[0] > read[1].line
    assert isinstance(events[-1], dx.FormTail)


def test_several_forms_come_in_order_with_their_heads() -> None:
    first = list(dmfa.synthetic_persons(inszs(3), quarter=QUARTER))
    second = list(dmfa.synthetic_persons(inszs(2, 10), quarter=QUARTER))
    unrelated = {"UnrelatedEmployerClass": "000", "UnrelatedWorkerCode": "802", "UnrelatedAmount": 1234}
    third = form([])
    third["EmployerDeclaration"]["ContributionUnrelatedToNP"] = [unrelated]
    del third["EmployerDeclaration"]["NaturalPerson"]
    data = dx.to_xml([form(first), form(second, rsz="100103"), third])
    kinds = [(type(e).__name__, getattr(e, "index", None)) for e in dx.read_forms(io.BytesIO(data))]
    assert kinds == [
        ("FormHead", 1),
        ("Person", 1),
        ("Person", 2),
        ("Person", 3),
        ("FormTail", 1),
        ("FormHead", 2),
        ("Person", 1),
        ("Person", 2),
        ("FormTail", 2),
        ("FormHead", 3),
        ("FormTail", 3),
    ]
    tail = list(dx.read_forms(io.BytesIO(data)))[-1]
    assert isinstance(tail, dx.FormTail)
    assert tail.rest == {"ContributionUnrelatedToNP": [unrelated]}


def test_schema_error_halfway_gives_its_line() -> None:
    persons = list(dmfa.synthetic_persons(inszs(3000), quarter=QUARTER))
    persons[2200]["WorkerRecord"][0]["Occupation"][0]["Remun"][0]["RemunAmount"] = "lots"
    data = dx.to_xml([form(persons)])
    bad_line = next(i for i, line in enumerate(data.split(b"\n"), start=1) if b"lots" in line)
    assert bad_line > 50_000  # well past the first blocks the parser reads
    with pytest.raises(XmlRefused) as caught:
        for _ in dx.read_forms(io.BytesIO(data)):
            pass
    assert caught.value.line is not None
    assert abs(caught.value.line - bad_line) <= 1
    assert "RemunAmount" in caught.value.message


def test_missing_element_is_a_schema_error() -> None:
    persons = list(dmfa.synthetic_persons(inszs(2), quarter=QUARTER))
    del persons[1]["WorkerRecord"][0]["Border"]
    with pytest.raises(XmlRefused, match=r"not valid against DmfAOriginal_20223\.xsd"):
        list(dx.read_forms(io.BytesIO(dx.to_xml([form(persons)]))))


def test_not_well_formed_gives_the_line() -> None:
    data = dx.to_xml([form(list(dmfa.synthetic_persons(inszs(2), quarter=QUARTER)))])
    broken = data.replace(b"</INSS>", b"</INSZ>", 1)
    with pytest.raises(XmlRefused, match="not well-formed") as caught:
        list(dx.read_forms(io.BytesIO(broken)))
    assert caught.value.line == next(i for i, line in enumerate(broken.split(b"\n"), 1) if b"</INSZ>" in line)


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE DmfAOriginal [<!ENTITY a "aaaa">]>\n'
        b"<DmfAOriginal>&a;</DmfAOriginal>",
        b'<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "file:///etc/passwd">\n<DmfAOriginal/>',
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b"<DmfAOriginal>&lol2;</DmfAOriginal>",
    ],
)
def test_doctype_and_entities_are_refused(document: bytes) -> None:
    with pytest.raises(XmlRefused, match="DOCTYPE"):
        list(dx.read_forms(io.BytesIO(document)))


def test_another_root_element_is_refused() -> None:
    # every element of the XSD is global: a lone Form is schema-valid, but it is no DmfAOriginal
    data = dx.to_xml([form(list(dmfa.synthetic_persons(inszs(1), quarter=QUARTER)))])
    start, end = data.index(b"<Form>"), data.index(b"</Form>") + len(b"</Form>")
    with pytest.raises(XmlRefused, match="document element must be DmfAOriginal"):
        list(dx.read_forms(io.BytesIO(b'<?xml version="1.0"?>\n' + data[start:end])))


def test_memory_is_freed_as_persons_are_read() -> None:
    persons = list(dmfa.synthetic_persons(inszs(400), quarter=QUARTER))
    data = dx.to_xml([form(persons)])
    sizes = []
    for event in dx.read_forms(io.BytesIO(data)):
        if isinstance(event, dx.Person):
            sizes.append(event.index)
    assert sizes[-1] == 400
    # the reader keeps at most the current (cleared) person in its declaration element
    context = etree.iterparse(io.BytesIO(data), events=("end",), tag="NaturalPerson")
    kept = []
    for _, element in context:
        kept.append(len(element.getparent()))  # without freeing: grows with every person
    assert kept[-1] > 400


def test_update_file_reads_with_its_own_names() -> None:
    person = next(dmfa.synthetic_persons(inszs(1), quarter=QUARTER))
    record = person["WorkerRecord"][0]
    action = {k: v for k, v in record.items() if k != "Occupation"}
    action["OccupationUpdate"] = record["Occupation"]
    action["UpdateAction"] = 3
    update = {
        "EmployerDeclarationUpdate": {
            "Quarter": str(QUARTER),
            "NOSSRegistrationNbr": 100006,
            "Trusteeship": 0,
            "CompanyID": "0",
            "EmployerDeclarationPID": 7,
            "NaturalPersonUpdate": [
                {
                    "NaturalPersonSequenceNbr": 1,
                    "INSS": person["INSS"],
                    "WorkerRecordUpdate": [{"WorkerRecordUpdateAction": action}],
                }
            ],
        }
    }
    data = dx.to_xml([update], kind="update")
    xmlsafe.parse(data, schema_name="dmfa_update")
    events = list(dx.read_forms(io.BytesIO(data), kind="update"))
    assert isinstance(events[0], dx.FormHead)
    assert events[0].declaration["EmployerDeclarationPID"] == 7
    read = events[1]
    assert isinstance(read, dx.Person)
    assert read.data["WorkerRecordUpdate"][0]["WorkerRecordUpdateAction"]["UpdateAction"] == 3
    assert read.occupations_lines[0][0] is not None


def test_write_sample_is_valid_and_counts_its_records() -> None:
    buffer = io.BytesIO()
    written = dx.write_sample(
        buffer, employer={"kbo": "0870000027", "rsz": "010000020"}, workers=inszs(25), quarter=QUARTER
    )
    assert written == 25
    root = etree.fromstring(buffer.getvalue())
    assert xmlsafe.schema("dmfa").validate(root)
    assert len(root.findall("Form/EmployerDeclaration/NaturalPerson")) == 25
    owed = sum(int(x.text or 0) for x in root.iter("ContributionAmount"))
    assert root.findtext("Form/EmployerDeclaration/NetOwedAmount") == str(owed)
