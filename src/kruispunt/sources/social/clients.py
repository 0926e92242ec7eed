"""HTTP clients of a social source: the hub's persons directory (REGISTER / UNREGISTER) and, for a member of a
secondary network, its managing institution's member directory.

Synchronous (``httpx.Client``, a timeout on every call): they run inside the request that opens or closes a
file, between the insert and the commit, so that a refusal leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

import httpx


class DirectoryRefused(Exception):
    """The hub (or the managing institution) answered with a 4xx: ``status`` and its error ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class DirectoryUnavailable(Exception):
    """The hub (or the managing institution) could not be reached, timed out, or failed (5xx)."""


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
        error = body["error"]
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return f"HTTP_{response.status_code}", response.text[:200]


class JsonClient:
    """POST JSON to one base URL; 2xx → the JSON body, 4xx → DirectoryRefused, else DirectoryUnavailable."""

    def __init__(
        self,
        base_url: str | None,
        *,
        timeout_s: float,
        what: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.what = what
        self._client: httpx.Client | None = (
            httpx.Client(timeout=timeout_s, transport=transport) if base_url else None
        )

    @property
    def configured(self) -> bool:
        return self.base_url is not None

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.base_url is None or self._client is None:
            raise DirectoryUnavailable(f"no {self.what} URL configured")
        try:
            response = self._client.post(f"{self.base_url}{path}", json=body)
        except httpx.TimeoutException as exc:
            raise DirectoryUnavailable(f"the {self.what} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(f"the {self.what} is unreachable: {type(exc).__name__}") from exc
        if 400 <= response.status_code < 500:
            code, message = _error_of(response)
            raise DirectoryRefused(response.status_code, code, message)
        if response.status_code >= 300:
            code, message = _error_of(response)
            raise DirectoryUnavailable(
                f"the {self.what} failed: HTTP {response.status_code} {code} {message}"
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise DirectoryUnavailable(f"the {self.what} sent invalid JSON") from exc
        return data if isinstance(data, dict) else {"reply": data}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class HubDirectory(JsonClient):
    """``POST {hub}/directory/register`` and ``/directory/unregister`` (network/schemas.py bodies)."""

    def __init__(
        self, base_url: str | None, *, timeout_s: float, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(base_url, timeout_s=timeout_s, what="hub", transport=transport)

    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/directory/register", body)

    def unregister(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/directory/unregister", body)


class ManagingDirectory(JsonClient):
    """``POST {managing}/members/lines``: the member's span on a person (null: it no longer holds any)."""

    def __init__(
        self, base_url: str | None, *, timeout_s: float, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(base_url, timeout_s=timeout_s, what="managing institution", transport=transport)

    def set_span(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post("/members/lines", body)
