"""Deeply nested JSON sent to a service built on :mod:`kruispunt.core.web`: a clear 4xx error body, never a
500 — 300 levels are parsed and refused by the schema (422), 100,000 levels stop the parser (400)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from kruispunt.core.web import install_error_handlers


class _Body(BaseModel):
    a: int


def _client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/x")
    def accept(body: _Body) -> dict[str, int]:
        return {"a": body.a}

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"a":' * 300 + b"1" + b"}" * 300, 422),
        (b"[" * 300 + b"]" * 300, 422),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
    ],
)
def test_deep_nesting_is_a_clear_client_error(body: bytes, status: int) -> None:
    answer = _client().post("/x", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert answer.json()["error"]["code"] in {"INVALID_REQUEST", "HTTP_400"}
