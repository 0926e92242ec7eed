"""The outbox worker's network client: what counts as delivered, what is retried, what is given up."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kruispunt.employers.delivery import Claimed, NetworkClient, Permanent, Transient, backoff_s

INSZ = "85073003328"


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> NetworkClient:
    client = NetworkClient(hub_url="http://hub", rsz_url="http://rsz")
    client.http = httpx.Client(transport=httpx.MockTransport(handler))
    return client


def _hub(status: str | None, fault: bool = False) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] = {"informationCBSS": {"ticketCBSS": "t-1"}}
        if b"identify_person" in request.content:
            body |= {
                "status": {"value": "DATA_FOUND"},
                "data": {
                    "persons": [
                        {
                            "insz": INSZ,
                            "last_name": "Peeters",
                            "first_names": "An Marie",
                            "birth_date": "1985-07-30",
                        }
                    ]
                },
            }
        elif fault:
            body["fault"] = [{"reason": "NO_DELIBERATION", "diagnostic": "none"}]
        else:
            body |= {"status": {"value": status}, "data": None}
        return httpx.Response(200, json=body)

    return handler


def _drs_row() -> Claimed:
    payload = {
        "message_type": "drs_zima001",
        "insz": INSZ,
        "request": {"proof": None},
        "legal_context": "RSZ:SOCIAL_RISK_DECLARATION",
    }
    return Claimed(1, 1, "hub_message", "drs:1", payload, 0)


def test_a_declaration_some_institution_received_is_delivered() -> None:
    assert _client(_hub("DATA_FOUND")).deliver(_drs_row())["ticket"] == "t-1"


def test_a_declaration_no_institution_received_is_a_dead_letter_not_delivered() -> None:
    with pytest.raises(Permanent, match="NO_DATA_FOUND"):
        _client(_hub("NO_DATA_FOUND")).deliver(_drs_row())


def test_a_hub_refusal_is_permanent_and_a_5xx_is_retried() -> None:
    with pytest.raises(Permanent, match="NO_DELIBERATION"):
        _client(_hub(None, fault=True)).deliver(_drs_row())
    with pytest.raises(Transient):
        _client(lambda _: httpx.Response(503, json={})).deliver(_drs_row())


def test_backoff_grows_and_stays_capped() -> None:
    rng = random.Random(1)
    waits = [backoff_s(n, rng) for n in range(1, 20)]
    assert waits[0] <= 0.5 < waits[5]
    assert max(waits) <= 300.0
