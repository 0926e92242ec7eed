"""The classic CBSS connector over real HTTP.

A standard SOAP client (zeep, built from the WSDL we serve) sends ``sendXML`` with official-schema
``SSDNRequest`` documents; every reply validates against ``SSDNReply.xsd``.
"""

from __future__ import annotations

from typing import Any

import httpx
from lxml import etree

from kruispunt.hub import soap
from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import OCMW_GENT, register, resident

SERVICE_NS = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Service"
IDENTIFY_NS = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/IdentifyPerson"
MANAGE_NS = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/ManageAccess"
COMMON_NS = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"


def ssdn_request(service_id: str, version: str, body: str, *, org_unit: str = OCMW_GENT) -> str:
    return f"""<SSDNRequest xmlns="{SERVICE_NS}">
  <RequestContext>
    <AuthorizedUser>
      <UserID>72010145663</UserID>
      <Email>maatschappelijk.werker@ocmw-gent.be</Email>
      <OrgUnit>{org_unit}</OrgUnit>
      <MatrixID>17</MatrixID>
      <MatrixSubID>1</MatrixSubID>
    </AuthorizedUser>
    <Message><Reference>dossier-e2e</Reference></Message>
  </RequestContext>
  <ServiceRequest>
    <ServiceId>{service_id}</ServiceId>
    <Version>{version}</Version>
    {body}
  </ServiceRequest>
</SSDNRequest>"""


def identify(insz: str) -> str:
    return ssdn_request(
        "OCMWCPASIdentifyPerson",
        "20050930",
        f'<ip:IdentifyPersonRequest xmlns:ip="{IDENTIFY_NS}"><ip:SearchCriteria><ip:SSIN>{insz}</ip:SSIN>'
        "</ip:SearchCriteria></ip:IdentifyPersonRequest>",
    )


def send_with_zeep(network: RunningNetwork, inner: str) -> etree._Element:
    import zeep

    client = zeep.Client(f"{network.hub}/soap/WebServiceConnector?wsdl")
    reply = client.service.sendXML(inner)
    raw = reply.encode("utf-8") if isinstance(reply, str) else etree.tostring(reply)
    soap.validate_reply(raw)
    return etree.fromstring(raw)


def q(ns: str, path: str) -> str:
    return "/".join(f"{{{ns}}}{part}" for part in path.split("/"))


def test_identify_person_over_soap(network: RunningNetwork, people: list[dict[str, Any]]) -> None:
    person = resident(people, 10)
    assert register(network, person).status_code == 200
    reply = send_with_zeep(network, identify(person["insz"]))
    summary = f"{{{SERVICE_NS}}}ReplyContext/{{{COMMON_NS}}}ResultSummary/{{{COMMON_NS}}}ReturnCode"
    assert reply.findtext(summary) == "0"
    ticket = reply.findtext(q(SERVICE_NS, "ReplyContext/Message/Ticket"))
    assert ticket
    text = etree.tostring(reply).decode()
    assert person["insz"] in text
    assert person["last_name"] in text
    logged = httpx.get(f"{network.hub}/audit/entries/{ticket}", timeout=5).json()
    assert logged["channel"] == "soap"
    assert logged["outcome"] == "DATA_FOUND"


def test_soap_refusal_is_an_ssdn_error_reply(network: RunningNetwork, people: list[dict[str, Any]]) -> None:
    person = resident(people, 11)  # never integrated by OCMW Gent
    reply = send_with_zeep(network, identify(person["insz"]))
    text = etree.tostring(reply).decode()
    assert "10000" in text  # ReturnCode ERROR
    assert "35012006" in text  # PERSON_NOT_INTEGRATED


def test_manage_access_register_then_list_over_soap(
    network: RunningNetwork, people: list[dict[str, Any]]
) -> None:
    person = resident(people, 12)
    body = (
        f'<ma:ManageAccessRequest xmlns:ma="{MANAGE_NS}" '
        'xmlns:common="http://www.ksz-bcss.fgov.be/XSD/SSDN/Common">'
        f"<ma:SSIN>{person['insz']}</ma:SSIN><ma:Purpose>1</ma:Purpose>"
        "<ma:Period><common:StartDate>2025-02-01</common:StartDate></ma:Period>"
        "<ma:Action>REGISTER</ma:Action>"
        f"<ma:ProofOfAuthentication><ma:PersonData><ma:LastName>{person['last_name']}</ma:LastName>"
        f"<ma:BirthDate>{person['birth_date']}</ma:BirthDate></ma:PersonData></ma:ProofOfAuthentication>"
        "</ma:ManageAccessRequest>"
    )
    reply = send_with_zeep(network, ssdn_request("OCMWCPASManageAccess", "20050930", body))
    text = etree.tostring(reply).decode()
    assert "10000" not in text, text
    lines = httpx.post(
        f"{network.hub}/directory/list", json={"institution": OCMW_GENT, "insz": person["insz"]}, timeout=5
    )
    assert lines.status_code == 200, lines.text
    assert any(line["capacity"] == 1 for line in lines.json()["lines"])


def test_not_even_soap_gets_a_fault_not_a_500(network: RunningNetwork) -> None:
    answer = httpx.post(
        f"{network.hub}/soap/WebServiceConnector",
        content=b"<not-soap/>",
        headers={"content-type": "text/xml"},
    )
    assert answer.status_code == 400
    assert b"Fault" in answer.content


def test_hostile_xml_is_refused_without_expansion(network: RunningNetwork) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol2;</soap:Body>'
        b"</soap:Envelope>"
    )
    answer = httpx.post(
        f"{network.hub}/soap/WebServiceConnector", content=bomb, headers={"content-type": "text/xml"}
    )
    assert answer.status_code == 400
    assert b"lollollol" not in answer.content
