"""The CBSS classic SSDN connector: SOAP envelope, SSDNRequest/SSDNReply, service converters, WSDL, zeep.

Every XML document the tests feed in is checked against the official schemas first, and every document
kruispunt produces is validated against them, so the contract is the official one and not our reading.
"""

from __future__ import annotations

import filecmp
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from kruispunt.hub import soap
from kruispunt.hub.soap import (
    COMMON_NS,
    CONNECTOR_NS,
    IDENTIFY_PERSON_NS,
    INVESTIGATION_NS,
    MANAGE_ACCESS_NS,
    PERSON_NS,
    SERVICE_NS,
    SOAP11_NS,
    SOAP12_NS,
    Detail,
    ServiceReplyPart,
    SsdnError,
    SsdnRequest,
)

FIXTURES = Path(__file__).parent / "fixtures"
XSD = soap.XSD_DIR
REFERENCE = Path("/work/shared/reference/cbss")

SERVICE_XSDS = {
    "IdentifyPersonRequest": "SSDN/OCMW_CPAS/IdentifyPerson/IdentifyPersonRequest.xsd",
    "ManageAccessRequest": "SSDN/OCMW_CPAS/ManageAccess/ManageAccessRequest.xsd",
    "PerformInvestigationRequest": "SSDN/OCMW_CPAS/PerformInvestigation/PerformInvestigationRequest.xsd",
    "IdentifyPersonReply": "SSDN/OCMW_CPAS/IdentifyPerson/IdentifyPersonReply.xsd",
    "ManageAccessReply": "SSDN/OCMW_CPAS/ManageAccess/ManageAccessReply.xsd",
    "PerformInvestigationReply": "SSDN/OCMW_CPAS/PerformInvestigation/PerformInvetigationReply.xsd",
}
REQUEST_FIXTURES = [
    "identify_person_by_ssin.xml",
    "identify_person_phonetic.xml",
    "manage_access_register.xml",
    "manage_access_list.xml",
    "perform_investigation.xml",
]
T0 = datetime(2024, 3, 15, 10, 15, 2, tzinfo=UTC)


# -- helpers ------------------------------------------------------------------------------------------


def official(relative: str) -> etree.XMLSchema:
    """An official schema compiled straight from its file, independently of the code under test."""
    return etree.XMLSchema(etree.parse(str(XSD / relative)))


def assert_valid(schema_file: str, element: etree._Element) -> None:
    schema = official(schema_file)
    assert schema.validate(element), str(schema.error_log)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def envelope(inner: str, *, version: str = "1.1", cdata: bool = False, wrapper: str | None = None) -> bytes:
    """A sendXML SOAP request carrying ``inner`` as the xmlString (escaped text, or CDATA)."""
    ns = SOAP11_NS if version == "1.1" else SOAP12_NS
    content = f"<![CDATA[{inner}]]>" if cdata else escape(inner)
    part = f'<xmlString xmlns="{CONNECTOR_NS}">{content}</xmlString>'
    if wrapper:
        part = f'<{wrapper} xmlns="{CONNECTOR_NS}">{part}</{wrapper}>'
    return f'<s:Envelope xmlns:s="{ns}"><s:Header/><s:Body>{part}</s:Body></s:Envelope>'.encode()


def wrap(name: str, **kwargs: Any) -> bytes:
    return envelope(fixture(name).decode("utf-8"), **kwargs)


def parsed(name: str) -> SsdnRequest:
    return soap.parse_soap_request(wrap(name))


def refused(body: bytes) -> SsdnError:
    with pytest.raises(SsdnError) as info:
        soap.parse_soap_request(body)
    return info.value


def reply_root(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def q(ns: str, path: str) -> str:
    return "/".join(f"{{{ns}}}{part}" for part in path.split("/"))


IDENTIFY_DATA: dict[str, Any] = {
    "persons": [
        {
            "insz": "85073003328",
            "last_name": "Peeters",
            "first_names": "Jan Pieter Marie",
            "birth_date": "1985-07-30",
            "sex": "M",
            "nationality": "150",
            "civil_state": 20,
            "death_date": None,
            "address": {
                "street": "Veldstraat",
                "house_number": "12",
                "postal_code": "9000",
                "municipality": "Gent",
                "nis_code": "44021",
            },
        },
        {
            "insz": "85273003371",
            "last_name": "Peters",
            "first_names": ["Jana"],
            "birth_date": date(1985, 7, 30),
            "sex": "F",
            "nationality": "NL",
            "civil_state": None,
            "death_date": "2023-00-00",
            "address": None,
        },
    ]
}


# -- the official files --------------------------------------------------------------------------------


@pytest.mark.skipif(not REFERENCE.exists(), reason="the shared reference folder is not on this machine")
def test_schema_copies_are_unmodified() -> None:
    for copied in XSD.rglob("*.xsd"):
        original = REFERENCE / "xsd" / copied.relative_to(XSD)
        assert filecmp.cmp(copied, original, shallow=False), copied
    assert filecmp.cmp(soap.WSDL_PATH, REFERENCE / "wsdl" / "WebServiceConnector.wsdl", shallow=False)


@pytest.mark.parametrize("name", REQUEST_FIXTURES)
def test_fixtures_are_valid_official_ssdn_requests(name: str) -> None:
    root = etree.fromstring(fixture(name))
    assert_valid("SSDN/Service/SSDNRequest.xsd", root)
    body = root.find(q(SERVICE_NS, "ServiceRequest"))
    assert body is not None
    service_body = body[2]
    assert_valid(SERVICE_XSDS[etree.QName(service_body).localname], service_body)


# -- parse_soap_request ---------------------------------------------------------------------------------


def test_parse_escaped_soap11_request() -> None:
    request = parsed("identify_person_by_ssin.xml")
    assert request.user_id == "72010145663"
    assert request.email == "maatschappelijk.werker@ocmw-gent.be"
    assert request.org_unit == "0212344876"
    assert (request.matrix_id, request.matrix_sub_id) == (17, 1)
    assert request.reference == "dossier 2024/0042"
    assert request.time_request == datetime(2024, 3, 15, 10, 15, tzinfo=UTC)
    assert request.soap_version == "1.1"
    assert b"SSDNRequest" in request.inner_xml
    [service] = request.service_requests
    assert (service.service_id, service.version) == ("OCMWCPASIdentifyPerson", "20050930")
    assert service.body.tag == f"{{{IDENTIFY_PERSON_NS}}}IdentifyPersonRequest"
    soap.check_service(service)


def test_parse_cdata_request_with_its_own_xml_declaration() -> None:
    """The shape of the Lino prototype: CDATA, inner ``<?xml … encoding="utf-8"?>``, non-ASCII text."""
    request = soap.parse_soap_request(fixture("soap11_identify_cdata.xml"))
    assert request.reference == "Léon Dupont – dossier 7"
    assert request.org_unit is None
    assert (
        request.service_requests[0].body.findtext(q(IDENTIFY_PERSON_NS, "SearchCriteria/SSIN"))
        == "85273003371"
    )


def test_parse_soap12_and_rpc_style_wrapper() -> None:
    request = soap.parse_soap_request(wrap("manage_access_list.xml", version="1.2", wrapper="sendXML"))
    assert request.soap_version == "1.2"
    assert request.org_unit is None
    assert request.reference is None
    assert request.time_request is None
    assert request.service_requests[0].service_id == "OCMWCPASManageAccess"


def test_parse_inner_request_sent_as_xml_rather_than_string() -> None:
    inner = fixture("manage_access_list.xml").split(b"?>", 1)[1].decode()
    body = f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><xmlString xmlns="{CONNECTOR_NS}">{inner}</xmlString>'
    request = soap.parse_soap_request((body + "</s:Body></s:Envelope>").encode())
    assert request.matrix_sub_id == 1


def test_parse_several_service_requests() -> None:
    root = etree.fromstring(fixture("identify_person_by_ssin.xml"))
    extra = etree.fromstring(fixture("manage_access_register.xml")).find(q(SERVICE_NS, "ServiceRequest"))
    assert extra is not None
    root.append(extra)
    request = soap.parse_soap_request(envelope(etree.tostring(root, encoding="unicode")))
    assert [s.service_id for s in request.service_requests] == [
        "OCMWCPASIdentifyPerson",
        "OCMWCPASManageAccess",
    ]


# -- refusals -------------------------------------------------------------------------------------------


def test_not_xml() -> None:
    error = refused(b"this is not XML <")
    assert (error.reason_code, error.kind, error.http_status) == (soap.NOT_XML.code, "client", 400)
    assert error.needs_fault
    assert "not well-formed" in error.diagnostic


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
SOAP_ENVELOPE = f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body><x:xmlString xmlns:x="{CONNECTOR_NS}">{{}}'
SOAP_ENVELOPE += "</x:xmlString></s:Body></s:Envelope>"
XXE = '<?xml version="1.0"?>\n<!DOCTYPE s [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_envelope_refused_without_expansion(encoding: str) -> None:
    """UTF-16 hides the DOCTYPE from the byte pre-check: the parser must still not expand anything."""
    document = BILLION_LAUGHS.replace('"1.0"?>', f'"1.0" encoding="{encoding}"?>', 1)
    document += SOAP_ENVELOPE.format("&lol9;")
    started = time.perf_counter()
    error = refused(document.encode(encoding))
    assert time.perf_counter() - started < 5  # generous: an expansion would take minutes and gigabytes
    assert error.reason_code == soap.DTD_FORBIDDEN.code
    assert error.needs_fault
    assert "lollol" not in error.diagnostic


def test_billion_laughs_inside_xml_string_refused() -> None:
    inner = BILLION_LAUGHS + "<SSDNRequest>&lol9;</SSDNRequest>"
    error = refused(envelope(inner))
    assert error.reason_code == soap.DTD_FORBIDDEN.code
    assert not error.needs_fault  # the envelope was fine: an SSDNReply can carry the refusal
    assert "xmlString" in error.diagnostic


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_external_entity_envelope_refused_and_not_read(encoding: str) -> None:
    document = XXE.replace('"1.0"?>', f'"1.0" encoding="{encoding}"?>', 1) + SOAP_ENVELOPE.format("&xxe;")
    error = refused(document.encode(encoding))
    assert error.reason_code == soap.DTD_FORBIDDEN.code
    assert "root:" not in error.diagnostic


def test_external_entity_inside_xml_string_refused() -> None:
    error = refused(envelope(XXE + "<SSDNRequest>&xxe;</SSDNRequest>"))
    assert error.reason_code == soap.DTD_FORBIDDEN.code
    assert "root:" not in str(error)


def test_undeclared_entity_is_not_well_formed() -> None:
    assert refused(SOAP_ENVELOPE.format("&xxe;").encode()).reason_code == soap.NOT_XML.code


def test_not_a_soap_envelope() -> None:
    error = refused(fixture("identify_person_by_ssin.xml"))
    assert error.reason_code == soap.NOT_SOAP.code
    assert "SSDNRequest" in error.diagnostic


def test_soap_without_body() -> None:
    error = refused(f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Header/></s:Envelope>'.encode())
    assert error.reason_code == soap.NOT_SOAP.code
    assert "no Body" in error.diagnostic


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ("", "Body is empty"),
        ('<sendText xmlns="urn:other">hello</sendText>', "{urn:other}sendText"),
        (f'<xmlString xmlns="{CONNECTOR_NS}">   </xmlString>', "xmlString is empty"),
        ('<xmlString xmlns="urn:wrong">&lt;a/&gt;</xmlString>', "{urn:wrong}xmlString"),
    ],
)
def test_soap_without_xml_string(body: str, hint: str) -> None:
    error = refused(f'<s:Envelope xmlns:s="{SOAP11_NS}"><s:Body>{body}</s:Body></s:Envelope>'.encode())
    assert error.reason_code == soap.NO_XML_STRING.code
    assert error.needs_fault
    assert hint in error.diagnostic


def test_soap12_refusal_remembers_the_version() -> None:
    error = refused(f'<s:Envelope xmlns:s="{SOAP12_NS}"><s:Body/></s:Envelope>'.encode())
    assert error.soap_version == "1.2"
    fault = etree.fromstring(error.fault())
    assert fault.findtext(
        f"{{{SOAP12_NS}}}Body/{{{SOAP12_NS}}}Fault/{{{SOAP12_NS}}}Code/{{{SOAP12_NS}}}Value"
    ) == ("soapenv:Sender")


def test_inner_not_xml() -> None:
    error = refused(envelope("<SSDNRequest><unclosed></SSDNRequest>"))
    assert error.reason_code == soap.INNER_NOT_XML.code
    assert not error.needs_fault
    assert "line 1" in error.diagnostic


def test_inner_root_is_not_ssdn_request() -> None:
    error = refused(envelope('<SSDNRequest xmlns="urn:not-cbss"/>'))
    assert error.reason_code == soap.NOT_SSDN_REQUEST.code
    assert "{urn:not-cbss}SSDNRequest" in error.diagnostic


def test_inner_ssin_with_ten_digits_is_an_xsd_violation() -> None:
    inner = (
        fixture("identify_person_by_ssin.xml").decode().replace("<UserID>72010145663", "<UserID>7201014566")
    )
    error = refused(envelope(inner))
    assert error.reason_code == soap.SSDN_XSD_INVALID.code
    assert error.kind == "client"
    assert "line 5:" in error.diagnostic
    assert "UserID" in error.diagnostic
    assert "length" in error.diagnostic


def test_unknown_element_is_an_xsd_violation() -> None:
    inner = (
        fixture("identify_person_by_ssin.xml")
        .decode()
        .replace("<MatrixID>", "<Nickname>jan</Nickname><MatrixID>")
    )
    error = refused(envelope(inner))
    assert error.reason_code == soap.SSDN_XSD_INVALID.code
    assert "Nickname" in error.diagnostic
    assert "not expected" in error.diagnostic


def test_missing_service_request_is_an_xsd_violation() -> None:
    root = etree.fromstring(fixture("identify_person_by_ssin.xml"))
    for service in root.findall(q(SERVICE_NS, "ServiceRequest")):
        root.remove(service)
    error = refused(envelope(etree.tostring(root, encoding="unicode")))
    assert error.reason_code == soap.SSDN_XSD_INVALID.code
    assert "ServiceRequest" in error.diagnostic


def test_time_request_that_is_not_a_real_moment() -> None:
    inner = fixture("identify_person_by_ssin.xml").decode().replace("20240315T101500", "20241331T101500")
    assert refused(envelope(inner)).reason_code == soap.INVALID_VALUE.code


def test_request_too_large() -> None:
    with pytest.raises(SsdnError) as info:
        soap.parse_soap_request(wrap("identify_person_by_ssin.xml"), max_bytes=100)
    assert (info.value.reason_code, info.value.http_status) == (soap.REQUEST_TOO_LARGE.code, 413)


def test_service_body_with_ten_digit_ssin_is_refused_by_the_service_xsd() -> None:
    inner = fixture("identify_person_by_ssin.xml").decode().replace(">85073003328<", ">8507300332<")
    request = soap.parse_soap_request(envelope(inner))  # the SSDN wildcard is lax: the service checks
    with pytest.raises(SsdnError) as info:
        soap.identify_person_to_internal(request.service_requests[0].body)
    assert info.value.reason_code == soap.SERVICE_XSD_INVALID.code
    assert "SSIN" in info.value.diagnostic
    assert "line " in info.value.diagnostic


def test_converter_given_another_service_body() -> None:
    body = parsed("manage_access_list.xml").service_requests[0].body
    with pytest.raises(SsdnError) as info:
        soap.identify_person_to_internal(body)
    assert info.value.reason_code == soap.SERVICE_XSD_INVALID.code
    assert "ManageAccessRequest" in info.value.diagnostic


@pytest.mark.parametrize(
    ("service_id", "version", "reason"),
    [
        ("OCMWCPASUnknown", "20050930", soap.UNKNOWN_SERVICE),
        ("OCMWCPASIdentifyPerson", "20990101", soap.UNSUPPORTED_VERSION),
    ],
)
def test_check_service(service_id: str, version: str, reason: soap.Reason) -> None:
    service = soap.SsdnServiceRequest(service_id, version, etree.Element("x"))
    with pytest.raises(SsdnError) as info:
        soap.check_service(service)
    assert info.value.reason_code == reason.code


# -- IdentifyPerson ---------------------------------------------------------------------------------------


def test_identify_person_by_ssin_round_trip() -> None:
    body = parsed("identify_person_by_ssin.xml").service_requests[0].body
    assert soap.identify_person_to_internal(body) == ("85073003328", {"insz": "85073003328"})
    assert soap.identify_person_verification(body) == {
        "insz": "85073003328",
        "sis_card_number": None,
        "identity_card_number": "591234567890",
        "person_data": {"last_name": "Peeters", "first_name": "Jan", "birth_date": "1985-07-30"},
    }


def test_identify_person_phonetic_round_trip() -> None:
    body = parsed("identify_person_phonetic.xml").service_requests[0].body
    insz, request = soap.identify_person_to_internal(body)
    assert insz is None
    assert request == {
        "last_name": "Peters",
        "first_name": "Jan",
        "birth_date": "1985-07-00",
        "sex": "M",
        "tolerance_years": 2,  # 14 months, widened to whole years
        "maximum": 10,
    }
    assert soap.identify_person_verification(body) is None


def _phonetic(**criteria: str) -> etree._Element:
    ns = IDENTIFY_PERSON_NS
    request = etree.Element(f"{{{ns}}}IdentifyPersonRequest")
    phonetic = etree.SubElement(
        etree.SubElement(request, f"{{{ns}}}SearchCriteria"), f"{{{ns}}}PhoneticCriteria"
    )
    for name, value in criteria.items():
        etree.SubElement(phonetic, f"{{{ns}}}{name}").text = value
    return request


@pytest.mark.parametrize(
    ("birth_date", "gender", "tolerance", "expected"),
    [
        ("1990-02-15", "2", "400", {"sex": "F", "tolerance_years": 2}),
        ("1990-00-00", "0", "3", {"tolerance_years": 3}),
        ("1990-02-00", "1", "0", {"sex": "M", "tolerance_years": 0}),
    ],
)
def test_identify_person_gender_and_tolerance(
    birth_date: str, gender: str, tolerance: str, expected: dict[str, Any]
) -> None:
    body = _phonetic(LastName="Janssens", BirthDate=birth_date, Gender=gender, Tolerance=tolerance)
    _, request = soap.identify_person_to_internal(body)
    assert request == {"last_name": "Janssens", "birth_date": birth_date, **expected}


@pytest.mark.parametrize("birth_date", ["1990-13-00", "1990-00-05", "1990-02-30"])
def test_identify_person_impossible_birth_date(birth_date: str) -> None:
    with pytest.raises(SsdnError) as info:
        soap.identify_person_to_internal(_phonetic(LastName="Janssens", BirthDate=birth_date))
    assert info.value.reason_code == soap.INVALID_VALUE.code
    assert birth_date in info.value.diagnostic


def test_identify_person_without_criteria() -> None:
    request = etree.Element(f"{{{IDENTIFY_PERSON_NS}}}IdentifyPersonRequest")
    etree.SubElement(request, f"{{{IDENTIFY_PERSON_NS}}}SearchCriteria")
    with pytest.raises(SsdnError) as info:
        soap.identify_person_to_internal(request)
    assert info.value.reason_code == soap.INVALID_VALUE.code


def test_identify_person_reply_is_official_and_maps_the_data() -> None:
    reply = soap.identify_person_reply(IDENTIFY_DATA)
    assert_valid(SERVICE_XSDS["IdentifyPersonReply"], reply)
    ns = IDENTIFY_PERSON_NS
    first, second = reply.findall(q(ns, "SearchResults/LimitedLegalData"))
    assert first.get("origin") == "RN_RR"
    assert second.get("origin") == "BCSS_KSZ"
    assert first.findtext(q(ns, "Basic/FirstName")) == "Jan"
    assert first.findtext(q(ns, "Basic/MiddleName")) == "Pieter Marie"
    assert first.findtext(q(ns, "Basic/Gender")) == "1"
    assert first.findtext(q(ns, "Basic/Address/CountryCode")) == "150"
    assert first.findtext(q(ns, "Basic/Address/MunicipalityCode")) == "44021"
    assert first.findtext(q(ns, "Basic/Address/Street")) == "Veldstraat"
    assert first.findtext(q(ns, "Extended/CivilState")) == "20"
    assert first.findtext(q(ns, "Extended/NationalityCode")) == "150"
    assert second.findtext(q(ns, "Basic/Gender")) == "2"
    assert second.findtext(q(ns, "Basic/BirthDate")) == "1985-07-30"
    assert second.findtext(q(ns, "Extended/DeceaseDate")) == "2023-00-00"
    assert second.find(q(ns, "Extended/NationalityCode")) is None  # "NL" is not a NIS code


def test_identify_person_reply_without_extended_or_persons() -> None:
    reply = soap.identify_person_reply(IDENTIFY_DATA, include_extended=False)
    assert reply.find(f".//{{{IDENTIFY_PERSON_NS}}}Extended") is None
    empties: list[dict[str, Any] | None] = [None, {"persons": []}]
    for empty in empties:
        reply = soap.identify_person_reply(empty)
        assert_valid(SERVICE_XSDS["IdentifyPersonReply"], reply)
        assert len(reply) == 0


def test_identify_person_reply_keeps_at_most_100_persons() -> None:
    person = {"insz": "85073003328", "last_name": "Peeters", "birth_date": "1985-07-30"}
    reply = soap.identify_person_reply({"persons": [person] * 150})
    assert len(reply.findall(f".//{{{IDENTIFY_PERSON_NS}}}LimitedLegalData")) == soap.MAX_SEARCH_RESULTS


def test_identify_person_reply_needs_a_birth_date() -> None:
    with pytest.raises(SsdnError) as info:
        soap.identify_person_reply({"persons": [{"insz": "85073003328", "last_name": "Peeters"}]})
    assert (info.value.reason_code, info.value.kind) == (soap.REPLY_NOT_REPRESENTABLE.code, "server")


# -- ManageAccess -------------------------------------------------------------------------------------------


REGISTRATIONS: dict[str, Any] = {
    "registrations": [
        {
            "purpose": 2,
            "start": date(2024, 1, 1),
            "end": None,
            "sector": 17,
            "institution_type": 1,
            "register": "PRIMARY",
        },
        {
            "purpose": 1,
            "start": "2023-06-01",
            "end": "2024-06-30",
            "sector": 18,
            "institution_type": 0,
            "register": "SECONDARY",
        },
    ]
}


def test_manage_access_register_round_trip() -> None:
    body = parsed("manage_access_register.xml").service_requests[0].body
    assert soap.manage_access_to_internal(body) == {
        "insz": "85073003328",
        "action": "REGISTER",
        "purpose": 2,
        "start": date(2024, 3, 15),
        "end": date(2024, 12, 31),
        "sector": None,
        "query_register": None,
        "proof": {
            "insz": "85073003328",
            "sis_card_number": None,
            "identity_card_number": None,
            "person_data": {"last_name": "Peeters", "first_name": "Jan", "birth_date": "1985-07-30"},
        },
    }
    reply = soap.manage_access_reply(body, REGISTRATIONS)
    assert_valid(SERVICE_XSDS["ManageAccessReply"], reply)
    ns = MANAGE_ACCESS_NS
    assert reply.findtext(q(ns, "OriginalRequest/Action")) == "REGISTER"
    assert reply.findtext(q(ns, "OriginalRequest/Purpose")) == "2"
    assert reply.findtext(f"{q(ns, 'OriginalRequest/Period')}/{{{COMMON_NS}}}EndDate") == "2024-12-31"
    assert reply.find(q(ns, "OriginalRequest/Register")) is None
    first, second = reply.findall(q(ns, "Registrations"))
    assert first.findtext(q(ns, "OrgUnit")) == "17"
    assert first.find(f"{q(ns, 'Period')}/{{{COMMON_NS}}}EndDate") is None
    assert second.findtext(q(ns, "Register")) == "SECONDARY"
    assert second.findtext(f"{q(ns, 'Period')}/{{{COMMON_NS}}}EndDate") == "2024-06-30"


def test_manage_access_list_round_trip() -> None:
    body = parsed("manage_access_list.xml").service_requests[0].body
    internal = soap.manage_access_to_internal(body)
    assert internal["action"] == "LIST"
    assert internal["purpose"] is None
    assert (internal["start"], internal["end"]) == (date(2024, 1, 1), None)
    assert (internal["sector"], internal["query_register"]) == (17, "ALL")
    assert internal["proof"]["sis_card_number"] == "1234567890"
    reply = soap.manage_access_reply(body, {"registrations": []})
    assert_valid(SERVICE_XSDS["ManageAccessReply"], reply)
    assert reply.findtext(q(MANAGE_ACCESS_NS, "OriginalRequest/Purpose")) == "0"
    assert reply.findtext(q(MANAGE_ACCESS_NS, "OriginalRequest/Register")) == "ALL"
    assert reply.find(q(MANAGE_ACCESS_NS, "Registrations")) is None


def _register_body(edit: Callable[[etree._Element], None]) -> etree._Element:
    body = parsed("manage_access_register.xml").service_requests[0].body
    edit(body)
    return body


def _drop(name: str) -> Callable[[etree._Element], None]:
    def edit(body: etree._Element) -> None:
        found = body.find(f"{{{MANAGE_ACCESS_NS}}}{name}")
        assert found is not None
        if name == "ProofOfAuthentication":
            found.clear()
        else:
            body.remove(found)

    return edit


def _set_end(value: str) -> Callable[[etree._Element], None]:
    def edit(body: etree._Element) -> None:
        end = body.find(f"{{{MANAGE_ACCESS_NS}}}Period/{{{COMMON_NS}}}EndDate")
        assert end is not None
        end.text = value

    return edit


@pytest.mark.parametrize(
    ("edit", "hint"),
    [
        (_drop("Purpose"), "needs a Purpose"),
        (_drop("ProofOfAuthentication"), "needs ProofOfAuthentication"),
        (_set_end("2024-01-01"), "before Period/StartDate"),
    ],
)
def test_manage_access_rules(edit: Callable[[etree._Element], None], hint: str) -> None:
    with pytest.raises(SsdnError) as info:
        soap.manage_access_to_internal(_register_body(edit))
    assert info.value.reason_code == soap.INVALID_VALUE.code
    assert hint in info.value.diagnostic


def test_manage_access_zoned_dates_and_unregister() -> None:
    def edit(body: etree._Element) -> None:
        _set_end("2024-12-31+01:00")(body)
        action = body.find(f"{{{MANAGE_ACCESS_NS}}}Action")
        assert action is not None
        action.text = "UNREGISTER"

    internal = soap.manage_access_to_internal(_register_body(edit))
    assert (internal["action"], internal["end"]) == ("UNREGISTER", date(2024, 12, 31))


# -- PerformInvestigation ---------------------------------------------------------------------------------


def test_perform_investigation_round_trip() -> None:
    body = parsed("perform_investigation.xml").service_requests[0].body
    query = soap.perform_investigation_to_internal(body)
    assert query == soap.InvestigationQuery(
        insz="85073003328", message_types=["family_composition", "address_history"], per_member=True
    )
    family = {
        "household_id": "H-1",
        "members": [
            {"insz": "85073003328", "last_name": "Peeters", "relationship": "head"},
            {"insz": "87010112345", "last_name": "Claes", "relationship": 2},
            {"insz": "15041207823", "last_name": "Peeters", "relationship": "03", "entry_date": "2015-04-12"},
        ],
    }
    histories: dict[str, dict[str, Any]] = {
        "85073003328": {
            "addresses": [
                {
                    "street": "Kerkstraat",
                    "house_number": "1",
                    "postal_code": "9000",
                    "municipality": "Gent",
                    "nis_code": "44021",
                    "start": "2010-01-01",
                    "end": "2019-12-31",
                },
                {
                    "street": "Veldstraat",
                    "house_number": "12",
                    "postal_code": "9000",
                    "municipality": "Gent",
                    "nis_code": "44021",
                    "start": date(2020, 1, 1),
                    "end": None,
                },
            ]
        },
        "87010112345": {"addresses": []},
    }
    reply = soap.perform_investigation_reply(
        insz=query.insz, family_composition=family, address_histories=histories
    )
    assert_valid(SERVICE_XSDS["PerformInvestigationReply"], reply)
    ns = INVESTIGATION_NS
    members = reply.findall(q(ns, "DataGroups/FamilyCompositionGroup/FamilyComposition/FamilyMember"))
    assert [m.findtext(q(ns, "RelationShip")) for m in members] == ["1", "2", "3"]
    assert members[2].findtext(q(ns, "EntryDate")) == "2015-04-12"
    first_history = reply.find(q(ns, "DataGroups/AddressHistoryGroup/AddressHistory"))
    assert first_history is not None
    addresses = first_history.findall(q(ns, "LegalAddresses/StandardAddress"))
    assert [a.get("modificationDate") for a in addresses] == ["2020-01-01", "2010-01-01"]  # most recent first
    assert addresses[0].findtext(f"{{{PERSON_NS}}}Street/{{{PERSON_NS}}}Description") == "Veldstraat"
    assert addresses[0].findtext(f"{{{PERSON_NS}}}Municipality/{{{PERSON_NS}}}PostalCode") == "9000"


def test_perform_investigation_groups() -> None:
    body = parsed("perform_investigation.xml").service_requests[0].body
    groups = body.find(f"{{{INVESTIGATION_NS}}}DataGroups")
    assert groups is not None
    for child in groups:
        child.text = (
            "true" if etree.QName(child).localname in ("CitizenGroup", "AddressHistoryGroup") else "false"
        )
    query = soap.perform_investigation_to_internal(body)
    assert query.message_types == ["address_history"]
    assert query.unsupported_groups == ["CitizenGroup"]
    assert not query.per_member
    body.remove(groups)
    assert soap.perform_investigation_to_internal(body).message_types == [
        "family_composition",
        "address_history",
    ]


def test_perform_investigation_reply_without_data_and_unknown_relationship() -> None:
    reply = soap.perform_investigation_reply(insz="85073003328")
    assert_valid(SERVICE_XSDS["PerformInvestigationReply"], reply)
    with pytest.raises(SsdnError) as info:
        soap.perform_investigation_reply(
            insz="85073003328",
            family_composition={"members": [{"insz": "85073003328", "relationship": "cousin"}]},
        )
    assert info.value.reason_code == soap.REPLY_NOT_REPRESENTABLE.code


# -- SSDNReply, SOAP response, fault, WSDL -------------------------------------------------------------------


def test_ok_reply_echoes_the_request_and_validates() -> None:
    request = parsed("identify_person_by_ssin.xml")
    xml = soap.build_ssdn_reply(
        request=request,
        ticket="5b0d1f5e-3c1a-4f67-9a52-2f0e9b1c7d11",
        time_receive=T0,
        time_response=T0.astimezone(timezone(timedelta(hours=2))) + timedelta(seconds=1),
        result="OK",
        details=[],
        service_replies=[
            ServiceReplyPart(
                "OCMWCPASIdentifyPerson", "20050930", "OK", [], soap.identify_person_reply(IDENTIFY_DATA)
            )
        ],
    )
    soap.validate_reply(xml)
    root = reply_root(xml)
    summary = root.find(f"{q(SERVICE_NS, 'ReplyContext')}/{{{COMMON_NS}}}ResultSummary")
    assert summary is not None
    assert summary.get("ok") == "YES"
    assert summary.findtext(f"{{{COMMON_NS}}}ReturnCode") == "0"
    message = root.find(q(SERVICE_NS, "ReplyContext/Message"))
    assert message is not None
    assert [etree.QName(c).localname for c in message] == [
        "Reference",
        "Ticket",
        "TimeRequest",
        "TimeReceive",
        "TimeResponse",
    ]
    assert message.findtext(q(SERVICE_NS, "TimeRequest")) == "20240315T101500"
    assert message.findtext(q(SERVICE_NS, "TimeReceive")) == "20240315T101502"
    assert message.findtext(q(SERVICE_NS, "TimeResponse")) == "20240315T101503"  # converted back to UTC
    assert root.findtext(q(SERVICE_NS, "ReplyContext/AuthorizedUser/OrgUnit")) == "0212344876"
    assert (
        root.find(f"{q(SERVICE_NS, 'ServiceReply')}/{{{IDENTIFY_PERSON_NS}}}IdentifyPersonReply") is not None
    )


def test_error_reply_without_request() -> None:
    error = refused(envelope("<SSDNRequest><bad></SSDNRequest>"))
    xml = soap.build_ssdn_reply(
        request=None,
        ticket="t-1",
        time_receive=T0.replace(tzinfo=None),
        time_response=T0,
        result="ERROR",
        details=[error.detail()],
        service_replies=[],
    )
    soap.validate_reply(xml)
    root = reply_root(xml)
    summary = root.find(f"{q(SERVICE_NS, 'ReplyContext')}/{{{COMMON_NS}}}ResultSummary")
    assert summary is not None
    assert (summary.get("ok"), summary.findtext(f"{{{COMMON_NS}}}ReturnCode")) == ("NO", "10000")
    detail = summary.find(f"{{{COMMON_NS}}}Detail")
    assert detail is not None
    assert detail.findtext(f"{{{COMMON_NS}}}ReasonCode") == soap.INNER_NOT_XML.code
    assert detail.findtext(f"{{{COMMON_NS}}}AuthorCodeList") == soap.AUTHOR_CODE_LIST
    assert root.find(q(SERVICE_NS, "ReplyContext/AuthorizedUser")) is None
    assert root.findtext(q(SERVICE_NS, "ReplyContext/Message/TimeReceive")) == "20240315T101502"


def test_warning_reply_with_every_service_and_many_details() -> None:
    request = parsed("manage_access_register.xml")
    manage_body = request.service_requests[0].body
    details = [
        Detail("WARNING", "31002099", f"warning {i}", information=[("field", str(i))] * 7) for i in range(40)
    ]
    xml = soap.build_ssdn_reply(
        request=request,
        ticket="t-2",
        time_receive=T0,
        time_response=T0,
        result="WARNING",
        details=details,
        service_replies=[
            ServiceReplyPart(
                "OCMWCPASManageAccess",
                "20050930",
                "OK",
                (),
                soap.manage_access_reply(manage_body, REGISTRATIONS),
            ),
            ServiceReplyPart(
                "OCMWCPASPerformInvestigation",
                "20080604",
                "WARNING",
                [Detail("WARNING", "31002098", "CitizenGroup is not available", soap.AUTHOR_CODE_LIST)],
                soap.perform_investigation_reply(insz="85073003328"),
            ),
            ServiceReplyPart(
                "OCMWCPASIdentifyPerson", "20050930", "ERROR", [Detail("ERROR", "x", "no")], None
            ),
        ],
    )
    soap.validate_reply(xml)
    root = reply_root(xml)
    summary = root.find(f"{q(SERVICE_NS, 'ReplyContext')}/{{{COMMON_NS}}}ResultSummary")
    assert summary is not None
    assert (summary.get("ok"), summary.findtext(f"{{{COMMON_NS}}}ReturnCode")) == ("WARNING", "1")
    kept = summary.findall(f"{{{COMMON_NS}}}Detail")
    assert len(kept) == 30
    assert kept[-1].findtext(f"{{{COMMON_NS}}}Diagnostic") == "11 more details omitted"
    assert len(kept[0].findall(f"{{{COMMON_NS}}}Information")) == 5
    assert len(root.findall(q(SERVICE_NS, "ServiceReply"))) == 3


def test_validate_reply_refuses_invalid_documents() -> None:
    good = soap.build_ssdn_reply(
        request=None,
        ticket="t",
        time_receive=T0,
        time_response=T0,
        result="OK",
        details=[],
        service_replies=[],
    )
    broken = good.replace(b"<Ticket>t</Ticket>", b"")
    for bad in (broken, b"<not-closed>", b'<SSDNReply xmlns="urn:x"/>'):
        with pytest.raises(SsdnError) as info:
            soap.validate_reply(bad)
        assert (info.value.reason_code, info.value.kind) == (soap.REPLY_INVALID.code, "server")
    # a body that no official schema declares violates the strict ServiceReply wildcard
    with pytest.raises(SsdnError):
        soap.build_ssdn_reply(
            request=None,
            ticket="t",
            time_receive=T0,
            time_response=T0,
            result="OK",
            service_replies=[ServiceReplyPart("X", "20050930", "OK", (), etree.Element("{urn:x}Unknown"))],
        )


def test_soap_response_carries_the_reply_string() -> None:
    reply = soap.build_ssdn_reply(
        request=parsed("identify_person_phonetic.xml"),
        ticket="t-3",
        time_receive=T0,
        time_response=T0,
        result="OK",
        details=[],
        service_replies=[],
    )
    for version, ns in (("1.1", SOAP11_NS), ("1.2", SOAP12_NS)):
        response = etree.fromstring(soap.soap_response(reply, soap_version=version))  # type: ignore[arg-type]
        assert response.tag == f"{{{ns}}}Envelope"
        text = response.findtext(f"{{{ns}}}Body/{{{CONNECTOR_NS}}}xmlString")
        assert text is not None
        assert not text.startswith("<?xml")
        carried = etree.fromstring(text)  # a str parse: would fail on an encoding declaration
        soap.validate_reply(etree.tostring(carried))
    assert soap.content_type("1.1").startswith("text/xml")
    assert soap.content_type("1.2").startswith("application/soap+xml")


def test_soap_faults() -> None:
    fault11 = etree.fromstring(soap.soap_fault("Client", "bad \x01 input", reason_code="31002002"))
    body = f"{{{SOAP11_NS}}}Body/{{{SOAP11_NS}}}Fault"
    assert fault11.findtext(f"{body}/faultcode") == "soapenv:Client"
    assert fault11.findtext(f"{body}/faultstring") == "31002002: bad  input"
    fault12 = etree.fromstring(soap.soap_fault("Server", "down", soap_version="1.2"))
    assert fault12.findtext(
        f"{{{SOAP12_NS}}}Body/{{{SOAP12_NS}}}Fault/{{{SOAP12_NS}}}Reason/{{{SOAP12_NS}}}Text"
    ) == ("down")
    error = refused(b"<")
    assert b"soapenv:Client" in error.fault()


def test_wsdl_document_points_at_our_endpoint() -> None:
    url = "https://hub.example.be/soap/KSZBCSSWebServiceConnectorPort"
    wsdl = etree.fromstring(soap.wsdl_document(url))
    [address] = wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == url
    assert b"%(cbss_environment)s" in soap.WSDL_PATH.read_bytes()  # the shipped copy is untouched


# -- a standard SOAP client ----------------------------------------------------------------------------------


def test_zeep_builds_a_request_we_accept(tmp_path: Path) -> None:
    zeep = pytest.importorskip("zeep")
    wsdl = tmp_path / "connector.wsdl"
    wsdl.write_bytes(soap.wsdl_document("http://127.0.0.1:9/soap"))
    client = zeep.Client(str(wsdl))
    inner = fixture("manage_access_register.xml").decode("utf-8")
    message = client.create_message(client.service, "sendXML", inner)
    request = soap.parse_soap_request(etree.tostring(message))
    assert request.service_requests[0].service_id == "OCMWCPASManageAccess"
    assert soap.manage_access_to_internal(request.service_requests[0].body)["action"] == "REGISTER"


def test_zeep_round_trip_through_a_fake_transport(tmp_path: Path) -> None:
    """zeep sends a real sendXML call; the 'server' is our functions; zeep hands back the reply string."""
    zeep = pytest.importorskip("zeep")
    requests = pytest.importorskip("requests")
    from zeep.transports import Transport

    seen: list[SsdnRequest] = []

    class Loopback(Transport):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]

        def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> Any:
            assert headers.get("SOAPAction", "").strip('"') == soap.SOAP_ACTION
            request = soap.parse_soap_request(etree.tostring(envelope))
            seen.append(request)
            body = request.service_requests[0].body
            reply = soap.build_ssdn_reply(
                request=request,
                ticket="zeep-1",
                time_receive=T0,
                time_response=T0,
                result="OK",
                service_replies=[
                    ServiceReplyPart(
                        "OCMWCPASManageAccess",
                        "20050930",
                        "OK",
                        (),
                        soap.manage_access_reply(body, REGISTRATIONS),
                    )
                ],
            )
            response = requests.Response()
            response.status_code = 200
            response._content = soap.soap_response(reply)
            response.headers["Content-Type"] = soap.content_type()
            response.encoding = "utf-8"
            return response

    wsdl = tmp_path / "connector.wsdl"
    wsdl.write_bytes(soap.wsdl_document("http://127.0.0.1:9/soap"))
    client = zeep.Client(str(wsdl), transport=Loopback())
    answer = client.service.sendXML(fixture("manage_access_register.xml").decode("utf-8"))
    assert isinstance(answer, str)
    reply = etree.fromstring(answer)
    assert reply.findtext(q(SERVICE_NS, "ReplyContext/Message/Ticket")) == "zeep-1"
    assert reply.findtext(q(SERVICE_NS, "ReplyContext/Message/Reference")) == "integratie Peeters"
    assert len(seen) == 1


def test_zeep_gets_a_fault(tmp_path: Path) -> None:
    zeep = pytest.importorskip("zeep")
    requests = pytest.importorskip("requests")
    from zeep.transports import Transport

    class Faulty(Transport):
        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]

        def post_xml(self, address: str, envelope: etree._Element, headers: dict[str, str]) -> Any:
            response = requests.Response()
            response.status_code = 500
            response._content = soap.soap_fault("Client", "xmlString is empty", reason_code="31002005")
            response.headers["Content-Type"] = soap.content_type()
            return response

    wsdl = tmp_path / "connector.wsdl"
    wsdl.write_bytes(soap.wsdl_document("http://127.0.0.1:9/soap"))
    client = zeep.Client(str(wsdl), transport=Faulty())
    with pytest.raises(zeep.exceptions.Fault) as info:
        client.service.sendXML("")
    assert "31002005" in info.value.message


def test_inner_string_with_bom_and_foreign_encoding_declaration() -> None:
    """Once carried as a string the inner document is Unicode: its declared encoding must not matter."""
    inner = (
        fixture("identify_person_by_ssin.xml").decode().replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    )
    inner = "\ufeff" + inner.replace("dossier 2024/0042", "dossier Müller")
    assert soap.parse_soap_request(envelope(inner)).reference == "dossier Müller"


def test_service_version_must_have_eight_characters() -> None:
    with pytest.raises(SsdnError) as info:
        soap.build_ssdn_reply(
            request=None,
            ticket="t",
            time_receive=T0,
            time_response=T0,
            result="ERROR",
            service_replies=[ServiceReplyPart("OCMWCPASIdentifyPerson", "2005", "ERROR")],
        )
    assert info.value.reason_code == soap.REPLY_INVALID.code
