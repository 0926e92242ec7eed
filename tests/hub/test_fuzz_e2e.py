"""Property: whatever JSON (or bytes) a caller sends to the hub, the answer is a CBSS-style JSON document
with a ticket and either a status or a fault — never a 5xx, never a trace (against the running network)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import envelope

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)

PATHS = [
    ("informationCustomer",),
    ("informationCustomer", "ticket"),
    ("informationCustomer", "timestampSent"),
    ("informationCustomer", "customerIdentification"),
    ("informationCustomer", "customerIdentification", "cbeNumber"),
    ("legalContext",),
    ("messageType",),
    ("messageType", "name"),
    ("messageType", "version"),
    ("ssin",),
    ("request",),
    ("request", "insz"),
    ("request", "last_name"),
]


def _mutate(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    target = doc
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    return doc


def _check(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    doc = answer.json()
    assert doc["informationCBSS"]["ticketCBSS"]
    assert ("fault" in doc) != ("status" in doc)
    assert "Traceback" not in answer.text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=json_values)
def test_any_field_any_value(network: RunningNetwork, path: tuple[str, ...], value: Any) -> None:
    body = _mutate(envelope(ssin="85073003328"), path, value)
    _check(httpx.post(f"{network.hub}/hub/messages", json=body, timeout=30))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes(network: RunningNetwork, raw: bytes) -> None:
    _check(
        httpx.post(
            f"{network.hub}/hub/messages",
            content=raw,
            headers={"content-type": "application/json"},
            timeout=30,
        )
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.binary(max_size=300)
    | st.text(max_size=200).map(
        lambda t: (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"{t}</soap:Body></soap:Envelope>"
        ).encode()
    )
)
def test_any_bytes_on_the_soap_connector(network: RunningNetwork, raw: bytes) -> None:
    answer = httpx.post(
        f"{network.hub}/soap/WebServiceConnector",
        content=raw,
        headers={"content-type": "text/xml"},
        timeout=30,
    )
    assert answer.status_code < 500, answer.text
    assert b"Traceback" not in answer.content
