"""The CBSS classic SSDN connector: SOAP ``sendXML(xmlString)`` in, ``SSDNReply`` out — as pure functions.

Institutions that already talk to the real CBSS send a complete ``SSDNRequest`` document *as a string*
inside the ``xmlString`` element of ``WebServiceConnector.wsdl`` and expect an ``SSDNReply`` string back.
This module is the XML side of that contract, so the hub's pipeline only ever sees Python values:

* :func:`parse_soap_request` — hardened parse of the envelope and of the inner ``SSDNRequest``, validated
  against the official ``SSDNRequest.xsd``;
* converters per service (``OCMWCPASIdentifyPerson``, ``OCMWCPASManageAccess``,
  ``OCMWCPASPerformInvestigation``) between the official request/reply bodies and the hub's internal
  message bodies (``docs/architecture.md``), each validated against the service's official XSD;
* :func:`build_ssdn_reply`, :func:`soap_response`, :func:`soap_fault` and :func:`wsdl_document`.

The official schemas are unmodified copies in ``xsd/`` (see ``xsd/README.txt``); everything kruispunt
produces is validated against them, so a partner's existing client needs no change.

Reason codes follow the hub's ``TCSSSXXX`` form (see ``kruispunt.hub.errors``) with service ``002`` =
this SOAP connector.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Final, Literal, cast

from lxml import etree

from kruispunt.hub.errors import Reason

# --------------------------------------------------------------------------------------------------
# namespaces, files
# --------------------------------------------------------------------------------------------------

SOAP11_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
CONNECTOR_NS: Final = "http://ksz-bcss.fgov.be/connectors/WebServiceConnector"
SERVICE_NS: Final = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Service"
COMMON_NS: Final = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"
PERSON_NS: Final = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Person"
IDENTIFY_PERSON_NS: Final = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/IdentifyPerson"
MANAGE_ACCESS_NS: Final = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/ManageAccess"
INVESTIGATION_NS: Final = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/PerformInvestigation"
_WSDL_SOAP_NS: Final = "http://schemas.xmlsoap.org/wsdl/soap/"

XSD_DIR: Final = Path(__file__).resolve().parent / "xsd"
WSDL_PATH: Final = XSD_DIR / "WebServiceConnector.wsdl"
SOAP_ACTION: Final = "http://ksz-bcss.fgov.be/connectors/WebServiceConnector/sendXML"

SoapVersion = Literal["1.1", "1.2"]
Result = Literal["OK", "WARNING", "ERROR"]
Severity = Literal["INFORMATION", "WARNING", "ERROR"]

IDENTIFY_PERSON: Final = "OCMWCPASIdentifyPerson"
MANAGE_ACCESS: Final = "OCMWCPASManageAccess"
PERFORM_INVESTIGATION: Final = "OCMWCPASPerformInvestigation"

#: Service ids the hub answers on the SOAP connector, with the versions it accepts (DOMAIN §2.3).
SUPPORTED_SERVICES: Final[Mapping[str, tuple[str, ...]]] = {
    IDENTIFY_PERSON: ("20050930",),
    MANAGE_ACCESS: ("20050930",),
    PERFORM_INVESTIGATION: ("20080604", "20090409"),
}

#: Who is responsible for our reason codes (``Detail/AuthorCodeList``); same value as the REST channel.
AUTHOR_CODE_LIST: Final = "KRUISPUNT-HUB"
#: ``IdentifyPersonReply/SearchResults`` holds at most this many persons (XSD ``maxOccurs``).
MAX_SEARCH_RESULTS: Final = 100
#: NIS code of Belgium: the internal address formats carry no country, and all of them are Belgian.
BELGIUM_NIS: Final = 150
#: Internal ``sex`` values ↔ official ``GenderCodeType`` (0 unknown, 1 male, 2 female).
SEX_BY_GENDER: Final[Mapping[int, str]] = {1: "M", 2: "F"}
_GENDER_BY_SEX: Final[Mapping[str, int]] = {"M": 1, "MALE": 1, "1": 1, "F": 2, "FEMALE": 2, "2": 2}
#: Internal household ``relationship`` labels → National Register relationship codes (``RelationShip``
#: 0..99, "relative to the head of the family"). Numeric codes pass through unchanged; only these labels
#: are translated ([INFERRED] 01 reference person, 02 spouse, 03 child, 12 cohabiting partner, 99 other
#: household member — the labels the synthetic nation uses; any other label is refused rather than guessed).
RELATIONSHIP_CODES: Final[Mapping[str, int]] = {
    "head": 1,
    "reference_person": 1,
    "spouse": 2,
    "child": 3,
    "partner": 12,
    "other": 99,
}

DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


def _reason(code: str, name: str, status: int, text: str) -> Reason:
    """A refusal reason of the SOAP connector (same form as the hub's; 002 = this connector)."""
    return Reason(code=code, name=name, http_status=status, text=text)


REQUEST_TOO_LARGE = _reason("31002001", "REQUEST_TOO_LARGE", 413, "the SOAP request is too large")
NOT_XML = _reason("31002002", "NOT_XML", 400, "the SOAP request is not well-formed XML")
DTD_FORBIDDEN = _reason("35002003", "DTD_FORBIDDEN", 400, "DOCTYPE / entity declarations are not allowed")
NOT_SOAP = _reason("31002004", "NOT_SOAP", 400, "the request is not a SOAP 1.1 or 1.2 envelope with a Body")
NO_XML_STRING = _reason(
    "31002005", "NO_XML_STRING", 400, "the SOAP Body has no (non-empty) sendXML xmlString"
)
INNER_NOT_XML = _reason("31002006", "INNER_NOT_XML", 400, "the xmlString content is not well-formed XML")
NOT_SSDN_REQUEST = _reason("31002007", "NOT_SSDN_REQUEST", 400, "the xmlString content is not an SSDNRequest")
SSDN_XSD_INVALID = _reason(
    "31002008", "SSDN_XSD_INVALID", 400, "the SSDNRequest does not match SSDNRequest.xsd"
)
SERVICE_XSD_INVALID = _reason(
    "31002009", "SERVICE_XSD_INVALID", 400, "the service request body does not match the service's XSD"
)
INVALID_VALUE = _reason("31002010", "INVALID_VALUE", 400, "a value is schema-valid but not acceptable")
UNKNOWN_SERVICE = _reason("31002011", "UNKNOWN_SERVICE", 404, "unknown ServiceId")
UNSUPPORTED_VERSION = _reason("31002012", "UNSUPPORTED_VERSION", 404, "unsupported service Version")
REPLY_NOT_REPRESENTABLE = _reason(
    "34002013", "REPLY_NOT_REPRESENTABLE", 500, "the data cannot be expressed in the official reply schema"
)
REPLY_INVALID = _reason("34002014", "REPLY_INVALID", 500, "the reply built does not match the official XSD")

REASONS: Final[Mapping[str, Reason]] = {
    r.name: r
    for r in (
        REQUEST_TOO_LARGE,
        NOT_XML,
        DTD_FORBIDDEN,
        NOT_SOAP,
        NO_XML_STRING,
        INNER_NOT_XML,
        NOT_SSDN_REQUEST,
        SSDN_XSD_INVALID,
        SERVICE_XSD_INVALID,
        INVALID_VALUE,
        UNKNOWN_SERVICE,
        UNSUPPORTED_VERSION,
        REPLY_NOT_REPRESENTABLE,
        REPLY_INVALID,
    )
}


class SsdnError(Exception):
    """Bad SOAP/SSDN input (``kind="client"``) or a reply we cannot build (``kind="server"``).

    ``needs_fault`` is True when the failure is in the SOAP layer itself (no envelope, no xmlString …):
    then no ``SSDNReply`` can be addressed to the sender and the answer must be :func:`soap_fault`.
    Otherwise the pipeline answers with an ``SSDNReply`` whose ResultSummary carries :meth:`detail`.
    """

    def __init__(
        self,
        reason: Reason,
        diagnostic: str | None = None,
        *,
        needs_fault: bool = False,
        soap_version: SoapVersion = "1.1",
    ) -> None:
        self.reason = reason
        self.reason_code = reason.code
        self.name = reason.name
        self.http_status = reason.http_status
        self.kind: Literal["client", "server"] = reason.kind
        self.diagnostic = diagnostic or reason.text
        self.needs_fault = needs_fault
        self.soap_version: SoapVersion = soap_version
        super().__init__(f"{reason.code} {reason.name}: {self.diagnostic}")

    def detail(self) -> Detail:
        """This error as a ``ResultSummary/Detail`` entry."""
        return Detail("ERROR", self.reason_code, self.diagnostic, AUTHOR_CODE_LIST)

    def fault(self) -> bytes:
        """This error as a SOAP fault in the sender's SOAP version."""
        code: Literal["Client", "Server"] = "Client" if self.kind == "client" else "Server"
        return soap_fault(code, self.diagnostic, soap_version=self.soap_version, reason_code=self.reason_code)


# --------------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SsdnServiceRequest:
    """One ``ServiceRequest``: which service, which version, and its (not yet validated) body."""

    service_id: str
    version: str
    body: etree._Element


@dataclass(frozen=True, slots=True)
class SsdnRequest:
    """The parts of an ``SSDNRequest`` the pipeline needs (``RequestContext`` + service requests)."""

    user_id: str
    email: str
    org_unit: str | None
    matrix_id: int
    matrix_sub_id: int | None
    reference: str | None
    time_request: datetime | None
    service_requests: list[SsdnServiceRequest]
    soap_version: SoapVersion = "1.1"
    #: the inner SSDNRequest document as received (UTF-8), for the log
    inner_xml: bytes = b""


@dataclass(frozen=True, slots=True)
class Detail:
    """A ``common:DetailMessageType``: one error, warning or information in a ResultSummary."""

    severity: Severity
    reason_code: str | None = None
    diagnostic: str | None = None
    author_code_list: str | None = None
    #: (FieldName, FieldValue) pairs naming the fields that caused the message; at most 5 are kept
    information: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class ServiceReplyPart:
    """One ``ServiceReply`` of an ``SSDNReply``: its own ResultSummary and (optional) reply body."""

    service_id: str
    version: str
    result: Result
    details: Sequence[Detail] = ()
    body: etree._Element | None = None


@dataclass(frozen=True, slots=True)
class InvestigationQuery:
    """What an ``OCMWCPASPerformInvestigation`` request asks, in internal message types.

    ``per_member`` is True when FamilyCompositionGroup is asked together with another group: the XSD says
    the other groups are then "returned for each member of the family". ``unsupported_groups`` lists the
    groups explicitly asked that the hub has no internal message type for (CitizenGroup, WaitRegisterGroup).
    """

    insz: str
    message_types: list[str] = field(default_factory=list)
    per_member: bool = False
    unsupported_groups: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# hardened parsing
# --------------------------------------------------------------------------------------------------

_local = threading.local()
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _parser() -> etree.XMLParser:
    """A per-thread parser that never loads a DTD, resolves an entity or touches the network."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_blank_text=True,
        )
        _local.parser = parser
    return parser


_WIDE_ENCODINGS: Final = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)


def _has_doctype(data: bytes) -> bool:
    """Whether the document has a DOCTYPE, looked for in ASCII-compatible and UTF-16/32 encodings."""
    if b"<!DOCTYPE" in data:
        return True
    for mark, encoding in _WIDE_ENCODINGS:
        if data.startswith(mark):
            return "<!DOCTYPE" in data.decode(encoding, errors="ignore")
    return False


def _parse_untrusted(
    data: bytes, *, what: str, not_xml: Reason, needs_fault: bool, soap_version: SoapVersion
) -> etree._Element:
    """Parse bytes from the outside world; refuse any DOCTYPE so nothing can expand or fetch entities.

    A DOCTYPE (in an ASCII-compatible or UTF-16/32 encoding) is refused before libxml2 sees it; one hidden
    in any other encoding is parsed without loading, expanding or fetching anything, then refused.
    """
    dtd_refused = SsdnError(
        DTD_FORBIDDEN,
        f"{what} contains a DOCTYPE; DTDs and entity declarations are refused "
        "(no entity is expanded or fetched)",
        needs_fault=needs_fault,
        soap_version=soap_version,
    )
    if _has_doctype(data):
        raise dtd_refused
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = f"line {exc.lineno}: " if exc.lineno else ""
        raise SsdnError(
            not_xml,
            f"{what} is not well-formed XML: {line}{exc.msg}",
            needs_fault=needs_fault,
            soap_version=soap_version,
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise dtd_refused
    return root


def _nsmap(default: str, **prefixed: str) -> Any:
    """An nsmap with a default namespace (lxml-stubs only type prefixed ones)."""
    mapping: dict[str | None, str] = {None: default}
    mapping.update(prefixed)
    return mapping


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (diagnostics may echo raw input)."""
    return _INVALID_XML_CHARS.sub("", text)


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------
# schemas (compiled once, lazily)
# --------------------------------------------------------------------------------------------------

_SCHEMA_FILES: Final[Mapping[str, str]] = {
    "ssdn_request": "SSDN/Service/SSDNRequest.xsd",
    "identify_request": "SSDN/OCMW_CPAS/IdentifyPerson/IdentifyPersonRequest.xsd",
    "identify_reply": "SSDN/OCMW_CPAS/IdentifyPerson/IdentifyPersonReply.xsd",
    "manage_request": "SSDN/OCMW_CPAS/ManageAccess/ManageAccessRequest.xsd",
    "manage_reply": "SSDN/OCMW_CPAS/ManageAccess/ManageAccessReply.xsd",
    "investigation_request": "SSDN/OCMW_CPAS/PerformInvestigation/PerformInvestigationRequest.xsd",
    # sic: the official file name has the typo, and its NamespaceRoot.xsd includes a name that does not exist
    "investigation_reply": "SSDN/OCMW_CPAS/PerformInvestigation/PerformInvetigationReply.xsd",
}

# SSDNReply's ServiceReply wildcard is processContents="strict": validating a reply needs every reply body
# schema in the same set. This driver only imports the official files; it changes none of them. The Common
# namespace is imported first through its NamespaceRoot so the complete namespace is loaded once.
_REPLY_DRIVER_IMPORTS: Final = (
    (COMMON_NS, "SSDN/Common/NamespaceRoot.xsd"),
    (PERSON_NS, "SSDN/Person/NamespaceRoot.xsd"),
    (SERVICE_NS, "SSDN/Service/SSDNReply.xsd"),
    (IDENTIFY_PERSON_NS, "SSDN/OCMW_CPAS/IdentifyPerson/IdentifyPersonReply.xsd"),
    (MANAGE_ACCESS_NS, "SSDN/OCMW_CPAS/ManageAccess/ManageAccessReply.xsd"),
    (INVESTIGATION_NS, "SSDN/OCMW_CPAS/PerformInvestigation/PerformInvetigationReply.xsd"),
)

# a validator keeps its error log on the instance: one lock per schema so messages never mix between threads
_schema_locks: Final[Mapping[str, threading.Lock]] = {
    key: threading.Lock() for key in (*_SCHEMA_FILES, "ssdn_reply")
}


@cache
def _schema(key: str) -> etree.XMLSchema:
    """Compile one official schema (trusted local files) the first time it is needed."""
    if key == "ssdn_reply":
        xs = "http://www.w3.org/2001/XMLSchema"
        driver = etree.Element(f"{{{xs}}}schema", nsmap={"xs": xs})
        for namespace, rel in _REPLY_DRIVER_IMPORTS:
            etree.SubElement(
                driver, f"{{{xs}}}import", namespace=namespace, schemaLocation=(XSD_DIR / rel).as_uri()
            )
        return etree.XMLSchema(driver)
    return etree.XMLSchema(etree.parse(str(XSD_DIR / _SCHEMA_FILES[key])))


def _first_error(key: str, node: etree._Element) -> str | None:
    """Validate ``node`` against schema ``key``; the first error as ``line N: message``, or None if valid."""
    schema = _schema(key)
    with _schema_locks[key]:
        if schema.validate(node):
            return None
        errors = list(cast(Iterable[Any], schema.error_log))
    if not errors:  # pragma: no cover - libxml2 always logs why
        return "invalid"
    first = errors[0]
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return _short(f"line {first.line}: {first.message}{more}")


def validate_reply(xml: bytes) -> None:
    """Raise :class:`SsdnError` (``REPLY_INVALID``) unless ``xml`` is an SSDNReply valid against the XSDs.

    Service reply bodies are checked too (the wildcard is strict), against their official reply XSDs.
    """
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise SsdnError(REPLY_INVALID, f"reply is not well-formed XML: {exc.msg}") from None
    problem = _first_error("ssdn_reply", root)
    if problem:
        raise SsdnError(REPLY_INVALID, f"SSDNReply invalid against SSDNReply.xsd: {problem}")


def _check_body(key: str, elem: etree._Element, expected: str, label: str) -> None:
    """Validate a service body against its official XSD; a clear client error otherwise."""
    if elem.tag != expected:
        raise SsdnError(SERVICE_XSD_INVALID, f"expected {label} body {expected}, got {elem.tag}")
    problem = _first_error(key, elem)
    if problem:
        raise SsdnError(SERVICE_XSD_INVALID, f"{label} invalid against its official XSD: {problem}")


def _check_built(key: str, elem: etree._Element, label: str) -> etree._Element:
    """Assert that a reply body we built is valid; a server error (our bug) otherwise."""
    problem = _first_error(key, elem)
    if problem:
        raise SsdnError(REPLY_INVALID, f"{label} built invalid against its official XSD: {problem}")
    return elem


# --------------------------------------------------------------------------------------------------
# SOAP request
# --------------------------------------------------------------------------------------------------


def _local_name(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(elem: etree._Element) -> list[etree._Element]:
    """Element children only (no comments or processing instructions)."""
    return [c for c in elem if isinstance(c.tag, str)]


def _xml_string_content(body: etree._Element, soap_version: SoapVersion) -> str | etree._Element:
    """Find the WSDL's ``xmlString`` in a SOAP Body and return its text (or, leniently, its element child).

    The WSDL (document/literal) puts ``tns:xmlString`` directly in the Body. RPC-style clients wrap it in
    a ``sendXML`` element, and some omit the namespace: both are accepted, nothing else is.
    """
    children = _children(body)
    if not children:
        raise SsdnError(NO_XML_STRING, "the SOAP Body is empty", needs_fault=True, soap_version=soap_version)
    part = children[0]
    if _local_name(part.tag) == "sendXML":
        inner = _children(part)
        part = inner[0] if inner else part
    if part.tag not in (f"{{{CONNECTOR_NS}}}xmlString", "xmlString"):
        raise SsdnError(
            NO_XML_STRING,
            f"the SOAP Body holds {part.tag}, expected {{{CONNECTOR_NS}}}xmlString (operation sendXML)",
            needs_fault=True,
            soap_version=soap_version,
        )
    elements = _children(part)
    text = (part.text or "").strip()
    if not text and elements:
        return elements[0]  # the SSDNRequest sent as XML instead of as a string: take it as it is
    if not text:
        raise SsdnError(NO_XML_STRING, "xmlString is empty", needs_fault=True, soap_version=soap_version)
    return text


def parse_soap_request(body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SsdnRequest:
    """Parse a ``sendXML`` SOAP request into an :class:`SsdnRequest`, or raise :class:`SsdnError`.

    Checks, in order: size, well-formed XML without DOCTYPE, SOAP 1.1/1.2 Envelope with Body, xmlString,
    well-formed inner XML without DOCTYPE, root ``SSDNRequest``, validity against ``SSDNRequest.xsd``.
    Service bodies are *not* validated here (the wildcard is lax): each converter validates its own.
    """
    if len(body) > max_bytes:
        raise SsdnError(
            REQUEST_TOO_LARGE,
            f"the request has {len(body)} bytes; the limit is {max_bytes}",
            needs_fault=True,
        )
    envelope = _parse_untrusted(
        body, what="the SOAP request", not_xml=NOT_XML, needs_fault=True, soap_version="1.1"
    )
    if envelope.tag == f"{{{SOAP11_NS}}}Envelope":
        version: SoapVersion = "1.1"
    elif envelope.tag == f"{{{SOAP12_NS}}}Envelope":
        version = "1.2"
    else:
        raise SsdnError(
            NOT_SOAP, f"the root element is {envelope.tag}, not a SOAP Envelope", needs_fault=True
        )
    soap_ns = SOAP11_NS if version == "1.1" else SOAP12_NS
    soap_body = envelope.find(f"{{{soap_ns}}}Body")
    if soap_body is None:
        raise SsdnError(NOT_SOAP, "the SOAP Envelope has no Body", needs_fault=True, soap_version=version)
    content = _xml_string_content(soap_body, version)

    if isinstance(content, str):
        # the string's own declaration may name an encoding it no longer has once decoded: drop it
        inner_text = _XML_DECLARATION.sub("", content.lstrip("\ufeff"), count=1)
        inner_xml = inner_text.encode("utf-8")
        root = _parse_untrusted(
            inner_xml,
            what="the xmlString content",
            not_xml=INNER_NOT_XML,
            needs_fault=False,
            soap_version=version,
        )
    else:
        root = copy.deepcopy(content)
        inner_xml = etree.tostring(root, encoding="utf-8")
    if root.tag != f"{{{SERVICE_NS}}}SSDNRequest":
        raise SsdnError(
            NOT_SSDN_REQUEST,
            f"the xmlString content is {root.tag}, expected {{{SERVICE_NS}}}SSDNRequest",
            soap_version=version,
        )
    problem = _first_error("ssdn_request", root)
    if problem:
        raise SsdnError(
            SSDN_XSD_INVALID, f"SSDNRequest invalid against SSDNRequest.xsd: {problem}", soap_version=version
        )
    try:
        return _ssdn_request(root, version, inner_xml)
    except SsdnError as exc:
        exc.soap_version = version
        raise


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(elem: etree._Element, path: str, ns: str, *, collapse: bool = True) -> str | None:
    """Text of the child at ``path`` (names in namespace ``ns``), whitespace-collapsed, or None."""
    found = elem.find("/".join(_q(ns, part) for part in path.split("/")))
    if found is None:
        return None
    return " ".join((found.text or "").split()) if collapse else (found.text or "")


def _required(elem: etree._Element, path: str, ns: str) -> str:
    value = _text(elem, path, ns)
    if value is None:  # pragma: no cover - the XSD already requires it
        raise SsdnError(SSDN_XSD_INVALID, f"{path} is missing")
    return value


def _ssdn_request(root: etree._Element, version: SoapVersion, inner_xml: bytes) -> SsdnRequest:
    ns = SERVICE_NS
    user = "RequestContext/AuthorizedUser/"
    sub_id = _text(root, user + "MatrixSubID", ns)
    time_text = _text(root, "RequestContext/Message/TimeRequest", ns)
    services = []
    for sr in root.findall(_q(ns, "ServiceRequest")):
        parts = _children(sr)
        services.append(
            SsdnServiceRequest(
                service_id=_required(sr, "ServiceId", ns),
                version=_required(sr, "Version", ns),
                body=parts[2],
            )
        )
    return SsdnRequest(
        user_id=_required(root, user + "UserID", ns),
        email=_required(root, user + "Email", ns),
        org_unit=_text(root, user + "OrgUnit", ns) or None,
        matrix_id=int(_required(root, user + "MatrixID", ns)),
        matrix_sub_id=int(sub_id) if sub_id is not None else None,
        reference=_text(root, "RequestContext/Message/Reference", ns, collapse=False),
        time_request=_parse_time(time_text) if time_text else None,
        service_requests=services,
        soap_version=version,
        inner_xml=inner_xml,
    )


def check_service(service: SsdnServiceRequest) -> None:
    """Raise ``UNKNOWN_SERVICE`` / ``UNSUPPORTED_VERSION`` unless the hub answers this ServiceId + Version."""
    versions = SUPPORTED_SERVICES.get(service.service_id)
    if versions is None:
        raise SsdnError(
            UNKNOWN_SERVICE,
            f"unknown ServiceId {service.service_id!r}; supported: {', '.join(sorted(SUPPORTED_SERVICES))}",
        )
    if service.version not in versions:
        raise SsdnError(
            UNSUPPORTED_VERSION,
            f"{service.service_id} version {service.version!r} is not supported; "
            f"supported: {', '.join(versions)}",
        )


# --------------------------------------------------------------------------------------------------
# value helpers
# --------------------------------------------------------------------------------------------------

_TIME_FORMAT: Final = "%Y%m%dT%H%M%S"
_XS_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?$")


def _parse_time(value: str) -> datetime:
    """``yyyyMMddThhmmss`` (``common:t_DateTimeUTC``) → an aware UTC datetime."""
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SsdnError(INVALID_VALUE, f"TimeRequest {value!r} is not a real date and time") from None


def _format_time(moment: datetime) -> str:
    """An aware datetime (naive = already UTC) → ``yyyyMMddThhmmss`` in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(_TIME_FORMAT)


def _parse_xs_date(value: str, label: str) -> date:
    """An ``xs:date`` (optionally with a zone, which carries no meaning for a calendar day) → date."""
    match = _XS_DATE.match(value)
    try:
        if match is None:
            raise ValueError(value)
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise SsdnError(INVALID_VALUE, f"{label} {value!r} is not a date the hub can handle") from None


def _check_incomplete_date(value: str, label: str) -> str:
    """A ``t_IncompleteDate`` must also be a real (partial) date: yyyy-mm-dd, yyyy-mm-00 or yyyy-00-00."""
    year, month, day = (int(p) for p in value.split("-"))
    ok = (month == 0 and day == 0) or (1 <= month <= 12 and day == 0)
    if not ok and 1 <= month <= 12 and day >= 1:
        try:
            date(year, month, day)
            ok = True
        except ValueError:
            ok = False
    if not ok:
        raise SsdnError(
            INVALID_VALUE, f"{label} {value!r} is not a date (use yyyy-mm-dd, yyyy-mm-00 or yyyy-00-00)"
        )
    return value


def _date_text(value: object, label: str) -> str:
    """Internal date (date, or ISO string possibly incomplete) → ``yyyy-mm-dd`` text."""
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if not re.fullmatch(r"[1-2]\d{3}-[0-1]\d-[0-3]\d", text):
        raise SsdnError(REPLY_NOT_REPRESENTABLE, f"{label} {text!r} is not a yyyy-mm-dd date")
    return text


def _as_int(value: object) -> int | None:
    """Integers and digit strings → int; anything else → None (no place in a numeric XSD field)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _nis(value: object) -> int | None:
    number = _as_int(value)
    return number if number is not None and 0 <= number <= 99999 else None


def _origin(insz: str) -> str:
    """``person:OriginType`` from the INSZ: bis numbers (month + 20/40) come from the CBSS register."""
    return "BCSS_KSZ" if insz[2:4].isdigit() and int(insz[2:4]) >= 20 else "RN_RR"


def _sub(parent: etree._Element, ns: str, name: str, text: object | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(ns, name))
    if text is not None:
        child.text = _clean(str(text))
    return child


def _opt(parent: etree._Element, ns: str, name: str, text: object | None) -> None:
    if text is not None and str(text).strip() != "":
        _sub(parent, ns, name, text)


def _gender(sex: object) -> int:
    if isinstance(sex, int) and not isinstance(sex, bool):
        return sex if sex in (0, 1, 2) else 0
    return _GENDER_BY_SEX.get(str(sex).strip().upper(), 0)


def _split_first_names(value: object) -> tuple[str | None, str | None]:
    """Internal ``first_names`` (string or list) → (FirstName, MiddleName = the other given names)."""
    names = [str(n) for n in value] if isinstance(value, list | tuple) else str(value or "").split()
    names = [n for n in (" ".join(x.split()) for x in names) if n]
    if not names:
        return None, None
    return names[0], (" ".join(names[1:]) or None)


# --------------------------------------------------------------------------------------------------
# OCMWCPASIdentifyPerson
# --------------------------------------------------------------------------------------------------


def identify_person_to_internal(elem: etree._Element) -> tuple[str | None, dict[str, Any]]:
    """``IdentifyPersonRequest`` → (INSZ or None, internal ``identify_person`` request body).

    By SSIN: ``(ssin, {"insz": ssin})`` — PhoneticCriteria are then ignored, as the XSD says.
    Phonetic: ``(None, {"last_name", "first_name"?, "birth_date", "sex"?, "tolerance_years"?, "maximum"?})``.
    Gender 1/2 → ``sex`` "M"/"F"; 0 (unknown) → no ``sex``. Tolerance is in days, months or years depending
    on how complete BirthDate is; it is widened to whole years (rounded up) so no candidate is lost.
    MiddleName has no internal field and is not used for the search. VerificationData: see
    :func:`identify_person_verification`.
    """
    _check_body(
        "identify_request", elem, _q(IDENTIFY_PERSON_NS, "IdentifyPersonRequest"), "IdentifyPersonRequest"
    )
    ns = IDENTIFY_PERSON_NS
    ssin = _text(elem, "SearchCriteria/SSIN", ns)
    if ssin:
        return ssin, {"insz": ssin}
    criteria = elem.find(f"{_q(ns, 'SearchCriteria')}/{_q(ns, 'PhoneticCriteria')}")
    if criteria is None:
        raise SsdnError(INVALID_VALUE, "SearchCriteria must contain SSIN or PhoneticCriteria")
    birth_date = _check_incomplete_date(_required(criteria, "BirthDate", ns), "PhoneticCriteria/BirthDate")
    body: dict[str, Any] = {"last_name": _required(criteria, "LastName", ns)}
    first_name = _text(criteria, "FirstName", ns)
    if first_name:
        body["first_name"] = first_name
    body["birth_date"] = birth_date
    gender = _text(criteria, "Gender", ns)
    if gender is not None and int(gender) in SEX_BY_GENDER:
        body["sex"] = SEX_BY_GENDER[int(gender)]
    tolerance = _text(criteria, "Tolerance", ns)
    if tolerance is not None:
        amount = int(tolerance)
        if amount < 0:
            raise SsdnError(INVALID_VALUE, f"PhoneticCriteria/Tolerance {amount} is negative")
        _, month, day = birth_date.split("-")
        per_year = 1 if month == "00" else 12 if day == "00" else 365
        body["tolerance_years"] = math.ceil(amount / per_year)
    maximum = _text(criteria, "Maximum", ns)
    if maximum is not None:
        body["maximum"] = int(maximum)
    return None, body


def identify_person_verification(elem: etree._Element) -> dict[str, Any] | None:
    """``VerificationData`` of a by-SSIN IdentifyPersonRequest as a ``POST /persons/verify`` body, or None.

    The XSD says verification is ignored without SSIN, and that the Extended legal data is only returned
    when one of the given proofs matches: the pipeline verifies and passes ``include_extended`` accordingly.
    """
    _check_body(
        "identify_request", elem, _q(IDENTIFY_PERSON_NS, "IdentifyPersonRequest"), "IdentifyPersonRequest"
    )
    ns = IDENTIFY_PERSON_NS
    ssin = _text(elem, "SearchCriteria/SSIN", ns)
    data = elem.find(_q(ns, "VerificationData"))
    if not ssin or data is None:
        return None
    proof = _proof(ssin, data, ns, "VerificationData")
    if (
        proof["sis_card_number"] is None
        and proof["identity_card_number"] is None
        and proof["person_data"] is None
    ):
        raise SsdnError(INVALID_VALUE, "VerificationData is present but empty; give at least one proof")
    return proof


def _proof(insz: str, elem: etree._Element, ns: str, label: str) -> dict[str, Any]:
    """SISCardNumber / IdentityCardNumber / PersonData → the ``POST /persons/verify`` body."""
    person = elem.find(_q(ns, "PersonData"))
    person_data: dict[str, Any] | None = None
    if person is not None:
        person_data = {
            "last_name": _required(person, "LastName", ns),
            "first_name": _text(person, "FirstName", ns) or None,
            "birth_date": _check_incomplete_date(
                _required(person, "BirthDate", ns), f"{label}/PersonData/BirthDate"
            ),
        }
    return {
        "insz": insz,
        "sis_card_number": _text(elem, "SISCardNumber", ns),
        "identity_card_number": _text(elem, "IdentityCardNumber", ns),
        "person_data": person_data,
    }


def identify_person_reply(data: Mapping[str, Any] | None, *, include_extended: bool = True) -> etree._Element:
    """Internal ``identify_person`` reply data → ``IdentifyPersonReply`` valid against its official XSD.

    Mapped per person: insz → SocialSecurityUser (and the ``origin`` attribute: RN_RR, or BCSS_KSZ for bis
    numbers), last_name, first_names → FirstName + MiddleName (the other given names), birth_date, sex →
    Gender, address → Address (CountryCode 150; nis_code → MunicipalityCode, municipality, postal_code,
    street, house_number); Extended (only if ``include_extended``): civil_state → CivilState (numeric codes
    only), death_date → DeceaseDate, nationality → NationalityCode (numeric NIS codes only). No place:
    non-numeric nationality / civil_state labels, and persons beyond :data:`MAX_SEARCH_RESULTS`.
    No data or no persons → an empty reply (no SearchResults).
    """
    ns = IDENTIFY_PERSON_NS
    reply = etree.Element(_q(ns, "IdentifyPersonReply"), nsmap=_nsmap(ns))
    persons = list((data or {}).get("persons") or [])[:MAX_SEARCH_RESULTS]
    if persons:
        results = _sub(reply, ns, "SearchResults")
        for person in persons:
            _limited_legal_data(results, person, include_extended)
    return _check_built("identify_reply", reply, "IdentifyPersonReply")


def _limited_legal_data(parent: etree._Element, person: Mapping[str, Any], include_extended: bool) -> None:
    ns = IDENTIFY_PERSON_NS
    insz = str(person.get("insz") or "")
    last_name = person.get("last_name")
    if not insz or not last_name or not person.get("birth_date"):
        raise SsdnError(
            REPLY_NOT_REPRESENTABLE,
            f"person {insz or '?'}: IdentifyPersonReply requires insz, last_name and birth_date",
        )
    item = _sub(parent, ns, "LimitedLegalData")
    item.set("origin", _origin(insz))
    basic = _sub(item, ns, "Basic")
    _sub(basic, ns, "SocialSecurityUser", insz)
    _sub(basic, ns, "LastName", last_name)
    first, middle = _split_first_names(person.get("first_names"))
    _opt(basic, ns, "FirstName", first)
    _opt(basic, ns, "MiddleName", middle)
    _sub(basic, ns, "BirthDate", _date_text(person["birth_date"], f"person {insz}: birth_date"))
    if person.get("sex") is not None:
        _sub(basic, ns, "Gender", _gender(person["sex"]))
    address = person.get("address")
    if isinstance(address, Mapping):
        addr = _sub(basic, ns, "Address")
        _sub(addr, ns, "CountryCode", _nis(address.get("country_nis")) or BELGIUM_NIS)
        municipality_code = _nis(address.get("nis_code"))
        if municipality_code is not None:
            _sub(addr, ns, "MunicipalityCode", municipality_code)
        _opt(addr, ns, "Municipality", address.get("municipality"))
        _opt(addr, ns, "PostalCode", address.get("postal_code"))
        _opt(addr, ns, "Street", address.get("street"))
        _opt(addr, ns, "HouseNumber", address.get("house_number"))
        _opt(addr, ns, "Box", address.get("box"))
    if include_extended:
        civil_state = _as_int(person.get("civil_state"))
        death_date = person.get("death_date")
        nationality = _nis(person.get("nationality"))
        if civil_state is not None or death_date or nationality is not None:
            extended = _sub(item, ns, "Extended")
            if civil_state is not None:
                _sub(extended, ns, "CivilState", civil_state)
            if death_date:
                _sub(extended, ns, "DeceaseDate", _date_text(death_date, f"person {insz}: death_date"))
            if nationality is not None:
                _sub(extended, ns, "NationalityCode", nationality)


# --------------------------------------------------------------------------------------------------
# OCMWCPASManageAccess
# --------------------------------------------------------------------------------------------------


def manage_access_to_internal(elem: etree._Element) -> dict[str, Any]:
    """``ManageAccessRequest`` → internal integration request (DOMAIN §3.3).

    Returns ``{"insz", "action": REGISTER|UNREGISTER|LIST, "purpose": capacity code | None, "start": date,
    "end": date | None, "sector": int | None, "query_register": PRIMARY|SECONDARY|ALL | None, "proof": …}``
    where ``proof`` is a ``POST /persons/verify`` body, or None when no proof is given. Sector and
    QueryRegister are only meaningful for LIST (the XSD says they are ignored otherwise) and are None then.
    REGISTER/UNREGISTER need a Purpose and at least one proof; LIST needs neither.
    """
    _check_body("manage_request", elem, _q(MANAGE_ACCESS_NS, "ManageAccessRequest"), "ManageAccessRequest")
    ns = MANAGE_ACCESS_NS
    common = COMMON_NS
    insz = _required(elem, "SSIN", ns)
    action = _required(elem, "Action", ns)
    purpose = _text(elem, "Purpose", ns)
    period = elem.find(_q(ns, "Period"))
    assert period is not None  # required by the XSD
    start_text = _required(period, "StartDate", common)
    end_text = _text(period, "EndDate", common)
    start = _parse_xs_date(start_text, "Period/StartDate")
    end = _parse_xs_date(end_text, "Period/EndDate") if end_text else None
    if end is not None and end < start:
        raise SsdnError(INVALID_VALUE, f"Period/EndDate {end} is before Period/StartDate {start}")
    proof_elem = elem.find(_q(ns, "ProofOfAuthentication"))
    assert proof_elem is not None  # required by the XSD
    proof: dict[str, Any] | None = _proof(insz, proof_elem, ns, "ProofOfAuthentication")
    if proof is not None and not (
        proof["sis_card_number"] or proof["identity_card_number"] or proof["person_data"]
    ):
        proof = None
    if action in ("REGISTER", "UNREGISTER"):
        if purpose is None:
            raise SsdnError(INVALID_VALUE, f"{action} needs a Purpose (the capacity code)")
        if proof is None:
            raise SsdnError(
                INVALID_VALUE,
                f"{action} needs ProofOfAuthentication with SISCardNumber, IdentityCardNumber or PersonData",
            )
    is_list = action == "LIST"
    sector = _text(elem, "Sector", ns)
    return {
        "insz": insz,
        "action": action,
        "purpose": int(purpose) if purpose is not None else None,
        "start": start,
        "end": end,
        "sector": int(sector) if is_list and sector is not None else None,
        "query_register": _text(elem, "QueryRegister", ns) if is_list else None,
        "proof": proof,
    }


def manage_access_reply(original_request_elem: etree._Element, result: Mapping[str, Any]) -> etree._Element:
    """``ManageAccessReply``: the original request echoed, then the overlapping inscriptions.

    ``result = {"registrations": [{"purpose", "start", "end", "sector", "institution_type", "register"}]}``.
    OrgUnit is "the sector for which the person has an inscription": the sector code. No place:
    ``institution_type``. OriginalRequest/Purpose is mandatory in the reply but optional for LIST: a LIST
    without Purpose is echoed with Purpose 0. QueryRegister of a LIST is echoed as Register.
    """
    _check_body(
        "manage_request",
        original_request_elem,
        _q(MANAGE_ACCESS_NS, "ManageAccessRequest"),
        "ManageAccessRequest",
    )
    ns = MANAGE_ACCESS_NS
    common = COMMON_NS
    src = original_request_elem
    reply = etree.Element(_q(ns, "ManageAccessReply"), nsmap=_nsmap(ns, common=common))
    original = _sub(reply, ns, "OriginalRequest")
    _sub(original, ns, "SSIN", _required(src, "SSIN", ns))
    _sub(original, ns, "Purpose", _text(src, "Purpose", ns) or 0)
    period = _sub(original, ns, "Period")
    src_period = src.find(_q(ns, "Period"))
    assert src_period is not None
    _sub(period, common, "StartDate", _required(src_period, "StartDate", common))
    _opt(period, common, "EndDate", _text(src_period, "EndDate", common))
    action = _required(src, "Action", ns)
    _sub(original, ns, "Action", action)
    if action == "LIST":
        _opt(original, ns, "Register", _text(src, "QueryRegister", ns))
    for registration in result.get("registrations") or []:
        item = _sub(reply, ns, "Registrations")
        _sub(item, ns, "Purpose", int(registration["purpose"]))
        reg_period = _sub(item, ns, "Period")
        _sub(reg_period, common, "StartDate", _date_text(registration["start"], "registration start"))
        if registration.get("end") is not None:
            _sub(reg_period, common, "EndDate", _date_text(registration["end"], "registration end"))
        _sub(item, ns, "OrgUnit", int(registration["sector"]))
        _sub(item, ns, "Register", str(registration.get("register") or "PRIMARY"))
    return _check_built("manage_reply", reply, "ManageAccessReply")


# --------------------------------------------------------------------------------------------------
# OCMWCPASPerformInvestigation
# --------------------------------------------------------------------------------------------------

_GROUP_MESSAGE_TYPES: Final[Mapping[str, str | None]] = {
    "FamilyCompositionGroup": "family_composition",
    "CitizenGroup": None,
    "AddressHistoryGroup": "address_history",
    "WaitRegisterGroup": None,
}


def perform_investigation_to_internal(elem: etree._Element) -> InvestigationQuery:
    """``PerformInvestigationRequest`` → the INSZ and the internal message types to consult.

    No DataGroups (or none set to true) means "all available information": family_composition and
    address_history. CitizenGroup and WaitRegisterGroup have no internal message type; when asked
    explicitly they are listed in ``unsupported_groups`` so the reply can say so in a WARNING.
    """
    _check_body(
        "investigation_request",
        elem,
        _q(INVESTIGATION_NS, "PerformInvestigationRequest"),
        "PerformInvestigationRequest",
    )
    ns = INVESTIGATION_NS
    insz = _required(elem, "SocialSecurityUser", ns)
    groups = elem.find(_q(ns, "DataGroups"))
    asked = []
    if groups is not None:
        for child in _children(groups):
            if (child.text or "").strip() in ("true", "1"):
                asked.append(_local_name(child.tag))
    if not asked:
        return InvestigationQuery(
            insz=insz, message_types=["family_composition", "address_history"], per_member=True
        )
    message_types = [t for g in asked if (t := _GROUP_MESSAGE_TYPES.get(g))]
    return InvestigationQuery(
        insz=insz,
        message_types=message_types,
        per_member="FamilyCompositionGroup" in asked and len(asked) > 1,
        unsupported_groups=[g for g in asked if _GROUP_MESSAGE_TYPES.get(g) is None],
    )


def _relationship(value: object, insz: str) -> int:
    code = _as_int(value)
    if code is None and isinstance(value, str):
        code = RELATIONSHIP_CODES.get(value.strip().lower())
    if code is None or not 0 <= code <= 99:
        raise SsdnError(
            REPLY_NOT_REPRESENTABLE,
            f"family member {insz}: relationship {value!r} has no RelationShip code (0-99)",
        )
    return code


def perform_investigation_reply(
    *,
    insz: str,
    family_composition: Mapping[str, Any] | None = None,
    address_histories: Mapping[str, Mapping[str, Any]] | None = None,
) -> etree._Element:
    """Internal ``family_composition`` / ``address_history`` data → ``PerformInvestigationReply``.

    ``address_histories`` maps INSZ → internal address_history data (one entry per family member when the
    request asked for it). Family: members → FamilyMember (insz, relationship → RelationShip code; see
    :data:`RELATIONSHIP_CODES`). No place: household_id and the members' names, birth dates and sex (the
    official FamilyMember carries none), EntryDate (not in the internal data). Addresses → LegalAddresses,
    most recent first: street, house_number, postal_code, municipality, nis_code; ``start`` →
    ``modificationDate``; no place for ``end``. Groups without data are left out.
    """
    ns = INVESTIGATION_NS
    reply = etree.Element(_q(ns, "PerformInvestigationReply"), nsmap=_nsmap(ns, person=PERSON_NS))
    _sub(reply, ns, "SocialSecurityUser", insz)
    members = list((family_composition or {}).get("members") or [])[:100]
    histories = list((address_histories or {}).items())[:100]
    if members or histories:
        groups = _sub(reply, ns, "DataGroups")
        if members:
            family = _sub(_sub(groups, ns, "FamilyCompositionGroup"), ns, "FamilyComposition")
            family.set("origin", _origin(insz))
            for member in members:
                member_insz = str(member.get("insz") or "")
                if not member_insz:
                    raise SsdnError(REPLY_NOT_REPRESENTABLE, "a family member has no insz")
                item = _sub(family, ns, "FamilyMember")
                _sub(item, ns, "SocialSecurityUser", member_insz)
                _sub(item, ns, "RelationShip", _relationship(member.get("relationship"), member_insz))
                if member.get("entry_date"):
                    _sub(
                        item, ns, "EntryDate", _date_text(member["entry_date"], f"{member_insz}: entry_date")
                    )
        if histories:
            group = _sub(groups, ns, "AddressHistoryGroup")
            for person_insz, history in histories:
                _address_history(group, person_insz, history)
    return _check_built("investigation_reply", reply, "PerformInvestigationReply")


def _address_history(parent: etree._Element, insz: str, history: Mapping[str, Any]) -> None:
    ns = INVESTIGATION_NS
    item = _sub(parent, ns, "AddressHistory")
    _sub(item, ns, "SocialSecurityUser", insz)
    addresses = [a for a in (history.get("addresses") or []) if isinstance(a, Mapping)]
    addresses.sort(key=lambda a: str(a.get("start") or ""), reverse=True)
    if not addresses:
        return
    legal = _sub(item, ns, "LegalAddresses")
    for address in addresses[:100]:
        _standard_address(legal, insz, address)


def _standard_address(parent: etree._Element, insz: str, address: Mapping[str, Any]) -> None:
    ns, person = INVESTIGATION_NS, PERSON_NS
    std = _sub(parent, ns, "StandardAddress")
    std.set("origin", _origin(insz))
    if address.get("start"):
        std.set("modificationDate", _date_text(address["start"], f"{insz}: address start"))
    country = _sub(std, person, "Country")
    _sub(country, person, "Code", _nis(address.get("country_nis")) or BELGIUM_NIS)
    municipality_code = _nis(address.get("nis_code"))
    if municipality_code is not None or address.get("municipality") or address.get("postal_code"):
        municipality = _sub(std, person, "Municipality")
        if municipality_code is not None:
            _sub(municipality, person, "Code", municipality_code)
        _opt(municipality, person, "Description", address.get("municipality"))
        _opt(municipality, person, "PostalCode", address.get("postal_code"))
    if address.get("street"):
        street = _sub(std, person, "Street")
        _sub(street, person, "Description", address["street"])
    _opt(std, person, "HouseNumber", address.get("house_number"))
    _opt(std, person, "Box", address.get("box"))


# --------------------------------------------------------------------------------------------------
# SSDNReply
# --------------------------------------------------------------------------------------------------

_RESULT_CODES: Final[Mapping[str, tuple[str, int]]] = {
    "OK": ("YES", 0),
    "WARNING": ("WARNING", 1),
    "ERROR": ("NO", 10000),
}
_MAX_DETAILS: Final = 30


def _result_summary(parent: etree._Element, result: Result, details: Sequence[Detail]) -> None:
    ok, return_code = _RESULT_CODES[result]
    summary = _sub(parent, COMMON_NS, "ResultSummary")
    summary.set("ok", ok)
    _sub(summary, COMMON_NS, "ReturnCode", return_code)
    kept = list(details)
    if len(kept) > _MAX_DETAILS:  # the XSD allows 30: say how many were left out instead of dropping silently
        omitted = len(kept) - _MAX_DETAILS + 1
        kept = [*kept[: _MAX_DETAILS - 1], Detail("INFORMATION", None, f"{omitted} more details omitted")]
    for detail in kept:
        item = _sub(summary, COMMON_NS, "Detail")
        _sub(item, COMMON_NS, "Severity", detail.severity)
        _opt(item, COMMON_NS, "ReasonCode", detail.reason_code)
        if detail.diagnostic:
            _sub(item, COMMON_NS, "Diagnostic", _short(detail.diagnostic, 2000))
        _opt(item, COMMON_NS, "AuthorCodeList", detail.author_code_list)
        for name, value in list(detail.information)[:5]:
            info = _sub(item, COMMON_NS, "Information")
            _sub(info, COMMON_NS, "FieldName", name)
            _sub(info, COMMON_NS, "FieldValue", value)


def build_ssdn_reply(
    *,
    request: SsdnRequest | None,
    ticket: str,
    time_receive: datetime,
    time_response: datetime,
    result: Result,
    details: Sequence[Detail] = (),
    service_replies: Iterable[ServiceReplyPart] = (),
    validate: bool = True,
) -> bytes:
    """Build an ``SSDNReply`` document (UTF-8 bytes) valid against ``SSDNReply.xsd``.

    ResultSummary: OK → ok=YES/ReturnCode 0, WARNING → WARNING/1, ERROR → NO/10000. The AuthorizedUser,
    Reference and TimeRequest of the request are echoed when the request is known. Times are written in
    UTC as ``yyyyMMddThhmmss`` (naive datetimes are taken as UTC). With ``validate`` (default) the
    document is checked against the official XSDs and :class:`SsdnError` (REPLY_INVALID) raised if not.
    """
    reply = etree.Element(_q(SERVICE_NS, "SSDNReply"), nsmap=_nsmap(SERVICE_NS, common=COMMON_NS))
    context = _sub(reply, SERVICE_NS, "ReplyContext")
    _result_summary(context, result, details)
    if request is not None:
        user = _sub(context, SERVICE_NS, "AuthorizedUser")
        _sub(user, SERVICE_NS, "UserID", request.user_id)
        _sub(user, SERVICE_NS, "Email", request.email)
        _opt(user, SERVICE_NS, "OrgUnit", request.org_unit)
        _sub(user, SERVICE_NS, "MatrixID", request.matrix_id)
        if request.matrix_sub_id is not None:
            _sub(user, SERVICE_NS, "MatrixSubID", request.matrix_sub_id)
    message = _sub(context, SERVICE_NS, "Message")
    if request is not None and request.reference is not None:
        _sub(message, SERVICE_NS, "Reference", request.reference)
    _sub(message, SERVICE_NS, "Ticket", ticket)
    if request is not None and request.time_request is not None:
        _sub(message, SERVICE_NS, "TimeRequest", _format_time(request.time_request))
    _sub(message, SERVICE_NS, "TimeReceive", _format_time(time_receive))
    _sub(message, SERVICE_NS, "TimeResponse", _format_time(time_response))
    for part in service_replies:
        if len(part.version) != 8:
            raise SsdnError(REPLY_INVALID, f"a service Version has 8 characters, not {part.version!r}")
        service_reply = _sub(reply, SERVICE_NS, "ServiceReply")
        _result_summary(service_reply, part.result, part.details)
        _sub(service_reply, SERVICE_NS, "ServiceId", part.service_id)
        _sub(service_reply, SERVICE_NS, "Version", part.version)
        if part.body is not None:
            service_reply.append(copy.deepcopy(part.body))
    etree.cleanup_namespaces(reply, top_nsmap=_nsmap(SERVICE_NS, common=COMMON_NS))
    xml = etree.tostring(reply, xml_declaration=True, encoding="UTF-8")
    if validate:
        validate_reply(xml)
    return xml


# --------------------------------------------------------------------------------------------------
# SOAP response, fault, WSDL
# --------------------------------------------------------------------------------------------------


def content_type(soap_version: SoapVersion = "1.1") -> str:
    """The HTTP Content-Type of a SOAP message in this version."""
    return "text/xml; charset=utf-8" if soap_version == "1.1" else "application/soap+xml; charset=utf-8"


def _envelope(soap_version: SoapVersion) -> tuple[etree._Element, etree._Element]:
    ns = SOAP11_NS if soap_version == "1.1" else SOAP12_NS
    envelope = etree.Element(_q(ns, "Envelope"), nsmap={"soapenv": ns})
    return envelope, _sub(envelope, ns, "Body")


def soap_response(ssdn_reply: bytes, *, soap_version: SoapVersion = "1.1") -> bytes:
    """Wrap an SSDNReply in the ``sendXML`` response: ``tns:xmlString`` carrying the reply as text.

    The XML declaration is dropped from the carried string: a client parsing the *string* (not bytes)
    would otherwise choke on ``encoding="UTF-8"``.
    """
    text = _XML_DECLARATION.sub("", ssdn_reply.decode("utf-8"), count=1)
    envelope, body = _envelope(soap_version)
    xml_string = etree.SubElement(body, _q(CONNECTOR_NS, "xmlString"), nsmap=_nsmap(CONNECTOR_NS))
    xml_string.text = text
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def soap_fault(
    code: Literal["Client", "Server"],
    message: str,
    *,
    soap_version: SoapVersion = "1.1",
    reason_code: str | None = None,
) -> bytes:
    """A SOAP Fault, for failures where no SSDNReply can be addressed (e.g. not even a SOAP envelope).

    Serve it with HTTP 500 (SOAP 1.1 / WS-I Basic Profile R1126); in SOAP 1.2 Client/Server become
    Sender/Receiver and a Sender fault may be served with 400. The reason code, if any, prefixes the text.
    """
    text = _clean(f"{reason_code}: {message}" if reason_code else message)
    envelope, body = _envelope(soap_version)
    if soap_version == "1.1":
        fault = _sub(body, SOAP11_NS, "Fault")
        etree.SubElement(fault, "faultcode").text = f"soapenv:{code}"
        etree.SubElement(fault, "faultstring").text = text
    else:
        fault = _sub(body, SOAP12_NS, "Fault")
        value = _sub(_sub(fault, SOAP12_NS, "Code"), SOAP12_NS, "Value")
        value.text = "soapenv:Sender" if code == "Client" else "soapenv:Receiver"
        reason = _sub(_sub(fault, SOAP12_NS, "Reason"), SOAP12_NS, "Text", text)
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


@cache
def _wsdl_tree() -> etree._ElementTree:
    return etree.parse(str(WSDL_PATH))


@lru_cache(maxsize=16)
def wsdl_document(endpoint_url: str) -> bytes:
    """The official ``WebServiceConnector.wsdl`` with its ``soap:address`` pointing at our endpoint."""
    root = copy.deepcopy(_wsdl_tree().getroot())
    for address in root.iter(_q(_WSDL_SOAP_NS, "address")):
        address.set("location", endpoint_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
