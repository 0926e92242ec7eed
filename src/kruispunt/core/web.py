"""What every kruispunt HTTP service shares: health, body-size limit, errors as JSON, never a stack trace.

Why here: each authentic source and the hub are separate services; they must all refuse bad input the
same way (a clear JSON error with the right status) and none may leak a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("kruispunt.web")


class JSONResponse(StarletteJSONResponse):
    """JSON rendered with orjson.

    A subclass of Starlette's (and so FastAPI's) ``JSONResponse`` on purpose: FastAPI documents a route's
    ``response_model`` only when the route's response class is one; with a plain ``Response`` every answer
    was documented as ``{"type": "string"}``.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """What every refusal looks like (:func:`error_body`): ``{"error": {"code", "message", "details"?}}``."""

    error: ErrorDetail


ERROR_REASONS = {
    400: "Bad input: an identifier that is not valid, a body that cannot be read",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Unknown resource",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "The request does not match the schema",
    502: "An upstream service failed",
    503: "Not available",
}


def error_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for refusals that carry the shared error body (:func:`error_body`),
    e.g. ``error_responses(404, 409)``; ``descriptions`` (``e409="already decided"``) override the text."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        text = descriptions.get(f"e{code}", ERROR_REASONS.get(code, "Refused"))
        out[code] = {"model": ErrorBody, "description": text}
    return out


def document_shared_errors(app: FastAPI) -> None:
    """Complete the app's OpenAPI document with the refusals every route shares.

    What the shared plumbing answers, whatever the route: 422 with :class:`ErrorBody` (not FastAPI's
    ``HTTPValidationError``: :func:`install_error_handlers` rewrites it), 400 when a parameter or body
    cannot be read (an identifier that is not valid, a body that is not JSON), 413 for a body over the limit,
    404 when a path names something unknown. A route's own ``responses`` win.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()
        _add_shared_errors(doc)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _error_response(code: int) -> dict[str, Any]:
    return {"description": ERROR_REASONS[code], "content": {"application/json": {"schema": _ERROR_REF}}}


def _add_shared_errors(doc: dict[str, Any]) -> None:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    for item in doc.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _error_response(422)
            parameters = operation.get("parameters", [])
            has_body = "requestBody" in operation
            if parameters or has_body:
                responses.setdefault("400", _error_response(400))
            if has_body:
                responses.setdefault("413", _error_response(413))
            if any(p.get("in") == "path" for p in parameters):
                responses.setdefault("404", _error_response(404))
    text = orjson.dumps(doc.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}".encode() not in text:
            schemas.pop(name, None)


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


class BodyLimitMiddleware:
    """Refuse bodies larger than ``max_bytes`` with 413 before the application reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            error_body("BODY_TOO_LARGE", f"request body larger than {self.max_bytes} bytes"), status_code=413
        )
        await response(scope, receive, send)


FILE_NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""What the name an upload is sent with may hold: it is a label, never a path, and has no control
characters (PostgreSQL text cannot hold NUL; a log line must not be split)."""


class _BodyTooLarge(Exception):
    pass


class BodyTooLarge(Exception):
    """Raised by :func:`read_body_limited` when a body passes the limit."""


async def read_body_limited(request: Request, max_bytes: int) -> bytes:
    """Read a request body, stopping as soon as it passes ``max_bytes`` (no unbounded buffering)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors for every failure: 4xx for input, a plain 500 (no trace) for our own bugs."""

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("INVALID_REQUEST", "the request does not match the schema", errors=errors),
            status_code=422,
        )

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.detail, dict) and "error" in exc.detail:
            return JSONResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        return JSONResponse(
            error_body(f"HTTP_{exc.status_code}", str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(
            error_body("INTERNAL", "unexpected internal error; it has been logged"), status_code=500
        )

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def create_service_app(
    *,
    title: str,
    description: str,
    max_body_bytes: int,
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    lifespan: Any = None,
    body_limit_exempt: tuple[str, ...] = (),
) -> FastAPI:
    """A FastAPI app with ``GET /health``, JSON errors and the body limit installed.

    ``body_limit_exempt`` lists path prefixes that enforce the limit themselves (the hub answers an
    oversized consultation in CBSS style and logs it).
    """
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        default_response_class=JSONResponse,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    document_shared_errors(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes, exempt_prefixes=body_limit_exempt)

    @app.get("/health", tags=["operations"], summary="Liveness and readiness of this service")
    async def health_route() -> dict[str, Any]:
        extra = await health() if health else {}
        return {"status": "ok", "service": title, **extra}

    return app
