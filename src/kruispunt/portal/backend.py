"""How the portal's pages call the network's services: one HTTP client, one error for "not reachable".

Why one place: every area page reads or writes through a kruispunt service (hub, employers, rights,
warehouse, …) over real HTTP. A service that is down or answers garbage must give the user a clear page
("try again later"), never a stack trace, and the client (its connection pool) must be shared and closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from fastapi import Request
from starlette.responses import HTMLResponse

from kruispunt.portal.web import error_page, portal_of, translate_of
from kruispunt.trust.envelopes import SIGNATURE_HEADER, sign

DEFAULT_TIMEOUT_S = 10.0


class BackendUnavailable(Exception):
    """The service has no configured URL, did not answer in time, or answered with a server error."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


def backend_client(request: Request) -> httpx.AsyncClient:
    """The portal's shared client to its backends (created on first use, closed with the app)."""
    portal = portal_of(request)
    client = portal.extra.get("backend_client")
    if client is None:
        client = httpx.AsyncClient(follow_redirects=False)
        portal.extra["backend_client"] = client
    assert isinstance(client, httpx.AsyncClient)
    return client


async def call_backend(
    request: Request,
    service: str,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    signed: bool = False,
    subject: str | None = None,
) -> httpx.Response:
    """``method path`` on ``service`` (a key of the portal's service URLs).

    ``signed``: the request (its body, empty for a GET) is sent signed by the portal's identity (the
    KSZ's), when it has one, as every institution's message to the hub is; ``subject`` names the logged-in
    person the portal acts for, whom the service then serves and logs. Answers with 4xx are returned for the
    page to explain; no URL, no answer, or 5xx raise :class:`BackendUnavailable`.
    """
    portal = portal_of(request)
    base = portal.service_urls.get(service)
    if not base:
        raise BackendUnavailable(service, "no URL configured")
    if signed and portal.signer is not None:
        extra = {}
        if json is not None:
            content = orjson.dumps(json)
            json = None
            extra["content-type"] = "application/json"
        signature = sign(
            content or b"", portal.signer, method=method, path=path, embed_certificate=False, subject=subject
        )
        headers = {**(headers or {}), **extra, SIGNATURE_HEADER: signature}
    try:
        answer = await backend_client(request).request(
            method,
            base.rstrip("/") + path,
            params=params,
            json=json,
            content=content,
            headers=headers,
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise BackendUnavailable(service, type(exc).__name__) from exc
    if answer.status_code >= 500:
        raise BackendUnavailable(service, f"answered {answer.status_code}")
    return answer


def unavailable_page(request: Request, exc: BackendUnavailable) -> HTMLResponse:
    """The page shown when a service cannot be reached: 503, in the user's language, no detail leaked."""
    return error_page(request, 503, "error_title", translate_of(request)("backend_unavailable"))
