"""The channels beside ``POST /hub/messages`` on a hub that requires signed envelopes: asynchronous
messages, batches, the mailbox, the SOAP connector, the directory and the log's entries believe no declared
CBE number — an unsigned call is refused, a call signed by another institution than the one it names or
reads for is refused, the signed owner is served.

The hub, its CA and its identities are those of :mod:`tests.hub.test_signed_messages`."""

from __future__ import annotations

import json

import httpx
import orjson

from kruispunt.trust.ca import Identity
from kruispunt.trust.envelopes import SIGNATURE_HEADER, sign
from tests.hub.test_batch_e2e import HEADER
from tests.hub.test_network_e2e import OCMW_GENT, envelope
from tests.hub.test_signed_messages import PERSON, SignedHub, hub  # noqa: F401
from tests.hub.test_soap import envelope as soap_envelope
from tests.hub.test_soap_e2e import identify

DECLARED = "X-Kruispunt-Cbe-Number"


def _call(
    hub: SignedHub,  # noqa: F811
    method: str,
    path: str,
    body: bytes = b"",
    signer: Identity | None = None,
    **headers: str,
) -> httpx.Response:
    sent = dict(headers)
    if signer is not None:
        sent[SIGNATURE_HEADER] = sign(body, signer, method=method, path=path)
    return httpx.request(method, f"{hub.url}{path}", content=body, headers=sent, timeout=30)


def _code(answer: httpx.Response) -> str:
    body = answer.json()
    if "fault" in body:
        return str(body["fault"][0]["reason"])
    return str(body["error"]["code"])


def test_an_async_message_must_be_signed_by_the_institution_it_names(hub: SignedHub) -> None:  # noqa: F811
    body = orjson.dumps(envelope(cbe=OCMW_GENT, ssin=PERSON))
    json_type = {"content-type": "application/json"}
    unsigned = _call(hub, "POST", "/hub/messages:async", body, **json_type, **{DECLARED: OCMW_GENT})
    assert (unsigned.status_code, _code(unsigned)) == (401, "UNSIGNED")
    other = _call(hub, "POST", "/hub/messages:async", body, hub.rsz, **json_type)
    assert (other.status_code, _code(other)) == (403, "SENDER_MISMATCH")
    accepted = _call(hub, "POST", "/hub/messages:async", body, hub.gent, **json_type)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["links"]["mailbox"] == f"/hub/mailbox/{OCMW_GENT}"


def test_a_mailbox_is_read_only_by_its_signed_institution(hub: SignedHub) -> None:  # noqa: F811
    path = f"/hub/mailbox/{OCMW_GENT}"
    declared = _call(hub, "GET", path, **{DECLARED: OCMW_GENT})
    assert (declared.status_code, _code(declared)) == (401, "UNSIGNED")
    other = _call(hub, "GET", path, signer=hub.rsz)
    assert (other.status_code, _code(other)) == (403, "SENDER_MISMATCH")
    assert PERSON not in other.text
    own = _call(hub, "GET", path, signer=hub.gent)
    assert own.status_code == 200, own.text


def test_a_batch_must_be_signed_and_is_read_only_by_its_sender(hub: SignedHub) -> None:  # noqa: F811
    ndjson = {"content-type": "application/x-ndjson"}
    header = {**HEADER, "customerIdentification": {"cbeNumber": OCMW_GENT}}
    body = ("\n".join([json.dumps(header), json.dumps({"ssin": PERSON})]) + "\n").encode()
    unsigned = _call(hub, "POST", "/hub/batches", body, **ndjson, **{DECLARED: OCMW_GENT})
    assert (unsigned.status_code, _code(unsigned)) == (401, "UNSIGNED")
    assert unsigned.json()["error"]["details"]["ticketCBSS"]  # the refusal is logged
    other = _call(hub, "POST", "/hub/batches", body, hub.rsz, **ndjson)
    assert (other.status_code, _code(other)) == (403, "SENDER_MISMATCH")
    accepted = _call(hub, "POST", "/hub/batches", body, hub.gent, **ndjson)
    assert accepted.status_code == 202, accepted.text
    status = accepted.headers["location"]
    assert _call(hub, "GET", status, signer=hub.gent).status_code == 200
    stranger = _call(hub, "GET", status, signer=hub.rsz)
    assert (stranger.status_code, _code(stranger)) == (403, "NOT_YOURS")
    declared = _call(hub, "GET", status, **{DECLARED: OCMW_GENT})
    assert (declared.status_code, _code(declared)) == (401, "UNSIGNED")


def test_a_soap_request_must_be_signed_by_the_institution_it_names(hub: SignedHub) -> None:  # noqa: F811
    body = soap_envelope(identify(PERSON))
    xml = {"content-type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    path = "/soap/WebServiceConnector"
    unsigned = _call(hub, "POST", path, body, **xml)
    assert unsigned.status_code == 200
    assert b"35012010" in unsigned.content  # UNSIGNED, in an SSDNReply whose ResultSummary is ERROR
    assert b"10000" in unsigned.content  # ReturnCode ERROR
    other = _call(hub, "POST", path, body, hub.rsz, **xml)
    assert b"35012014" in other.content  # SENDER_MISMATCH
    own = _call(hub, "POST", path, body, hub.gent, **xml)
    assert own.status_code == 200, own.text
    assert b"3501201" not in own.content  # no signature refusal


def test_the_directory_believes_no_institution_a_request_names(hub: SignedHub) -> None:  # noqa: F811
    body = orjson.dumps({"institution": OCMW_GENT, "insz": PERSON})
    json_type = {"content-type": "application/json"}
    unsigned = _call(hub, "POST", "/directory/list", body, **json_type)
    assert (unsigned.status_code, _code(unsigned)) == (401, "UNSIGNED")
    other = _call(hub, "POST", "/directory/list", body, hub.rsz, **json_type)
    assert (other.status_code, _code(other)) == (403, "SENDER_MISMATCH")
    assert "lines" not in other.json()
    own = _call(hub, "POST", "/directory/list", body, hub.gent, **json_type)
    assert own.status_code == 200, own.text
    assert own.json()["lines"]
    register = orjson.dumps(
        {
            "institution": OCMW_GENT,
            "insz": PERSON,
            "capacity": 2,
            "period": {"start": "2025-02-01"},
            "proof": {"person_data": {"last_name": "X", "birth_date": "1980-05-17"}},
        }
    )
    forged = _call(hub, "POST", "/directory/register", register, hub.rsz, **json_type)
    assert (forged.status_code, _code(forged)) == (403, "SENDER_MISMATCH")


def test_a_log_entry_is_read_by_its_requester_or_the_ksz_only(hub: SignedHub) -> None:  # noqa: F811
    body = orjson.dumps(envelope(cbe=OCMW_GENT, ssin=PERSON))
    json_type = {"content-type": "application/json"}
    answer = _call(hub, "POST", "/hub/messages", body, hub.gent, **json_type)
    assert answer.status_code == 200, answer.text
    path = f"/audit/entries/{answer.json()['informationCBSS']['ticketCBSS']}"
    unsigned = _call(hub, "GET", path)
    assert (unsigned.status_code, _code(unsigned)) == (401, "UNSIGNED")
    stranger = _call(hub, "GET", path, signer=hub.rsz)
    assert (stranger.status_code, _code(stranger)) == (404, "NOT_FOUND")
    assert PERSON not in stranger.text
    own = _call(hub, "GET", path, signer=hub.gent)
    assert own.status_code == 200, own.text
    assert own.json()["person"] == PERSON
