"""The shared HTTP plumbing documents what it answers (found by the OpenAPI fuzzing of every service).

Every answer used to be documented as ``{"type": "string"}`` (the JSON response class was not one FastAPI
recognises), the 422 body as FastAPI's ``HTTPValidationError`` although :func:`install_error_handlers`
rewrites it, and the refusals the plumbing gives everywhere (400, 413, 404) not at all.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from fastapi.testclient import TestClient
from pydantic import BaseModel

from kruispunt.core.web import create_service_app, error_responses


class Thing(BaseModel):
    name: str


JSON = {"content-type": "application/json"}


def _app() -> Any:
    app = create_service_app(title="t", description="d", max_body_bytes=100)

    @app.post("/things/{key}", responses=error_responses(409))
    async def put(key: str, thing: Thing) -> Thing:
        return thing

    @app.get("/things")
    async def things() -> list[Thing]:
        return [Thing(name="a")]

    return app


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "components": doc["components"]}


def test_answers_are_documented_with_their_model() -> None:
    doc = _app().openapi()
    listed = doc["paths"]["/things"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["type"] == "array"
    health = doc["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert health != {"type": "string"}


def test_the_shared_refusals_are_documented_with_the_error_body() -> None:
    app = _app()
    doc = app.openapi()
    responses = doc["paths"]["/things/{key}"]["post"]["responses"]
    assert {"400", "404", "409", "413", "422"} <= set(responses)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "400" not in doc["paths"]["/things"]["get"]["responses"]  # nothing to be bad about
    with TestClient(app) as client:
        answers = {
            "422": client.post("/things/k", json={"nom": 1}),
            "400": client.post("/things/k", content=b"\x15\xff`\xfe", headers=JSON),
            "413": client.post("/things/k", json={"name": "x" * 200}),
        }
    for code, answer in answers.items():
        assert answer.status_code == int(code)
        schema = responses[code]["content"]["application/json"]["schema"]
        jsonschema.validate(answer.json(), _resolve(doc, schema))
