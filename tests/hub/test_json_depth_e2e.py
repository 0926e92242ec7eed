"""Deeply nested JSON on a real hub: refused as malformed (400, logged), never a 500 or a hang — the JSON
parser's own depth limit bounds it (pydantic-core's recursion limit; the body-size limit bounds the rest)."""

from __future__ import annotations

import httpx
import pytest

from tests.hub.test_signed_messages import PATH, SignedHub, _logged, hub  # noqa: F401


@pytest.mark.parametrize(
    "body",
    [
        b'{"informationCustomer":' * 300 + b"1" + b"}" * 300,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=["object-300", "array-100000", "object-100000"],
)
def test_deeply_nested_json_is_a_logged_400(hub: SignedHub, body: bytes) -> None:  # noqa: F811
    answer = httpx.post(
        f"{hub.url}{PATH}", content=body, headers={"content-type": "application/json"}, timeout=30
    )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["fault"][0]["reason"] == "MALFORMED_REQUEST"
    assert _logged(hub, answer)["reason_code"] == answer.json()["fault"][0]["reasonCode"]
