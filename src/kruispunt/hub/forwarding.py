"""Calls to the authentic sources over real HTTP, with a timeout on every call.

One shared aiohttp session (keep-alive connection pool) serves every provider: the hub is a router, and
opening a connection per message would cost more than the rest of the pipeline together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from kruispunt.hub.errors import PROVIDER_BAD_REPLY, PROVIDER_TIMEOUT, PROVIDER_UNAVAILABLE, Reason

_STATUSES = frozenset({"DATA_FOUND", "NO_DATA_FOUND"})

BULK_BODY_BYTES = 512 * 1024
"""Largest body of one bulk call (half of a source's default body limit)."""


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """What one source answered, or why it did not."""

    provider: str
    status: str | None = None
    data: dict[str, Any] | None = None
    failure: Reason | None = None
    diagnostic: str | None = None


class Forwarder:
    def __init__(
        self, *, timeout_s: float, max_connections: int = 256, bulk_timeout_s: float = 120.0
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._bulk_timeout_s = bulk_timeout_s
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.sign: Callable[[bytes, str], Mapping[str, str]] | None = None
        """Signs what the hub forwards: (body, path) → headers; set when the hub holds an identity."""

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, json_serialize=lambda o: orjson.dumps(o).decode()
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, body: bytes, url: str) -> dict[str, str]:
        """The headers of a JSON call to a source: signed by the hub when it holds an identity (a fresh
        signature per call, so a retried call is no replay)."""
        headers = {"content-type": "application/json"}
        if self.sign is not None:
            headers.update(self.sign(body, urlsplit(url).path))
        return headers

    async def post_json(self, *, provider: str, url: str, payload: dict[str, Any]) -> ProviderAnswer:
        """POST ``payload`` to a source's consult endpoint and classify the outcome."""
        session = self._session
        if session is None:
            raise RuntimeError("Forwarder.start() was not called")
        data = orjson.dumps(payload)
        try:
            async with session.post(url, data=data, headers=self._headers(data, url)) as response:
                raw = await response.read()
                status_code = response.status
        except TimeoutError:
            return ProviderAnswer(
                provider, failure=PROVIDER_TIMEOUT, diagnostic=f"no answer from {provider} in time"
            )
        except (aiohttp.ClientError, OSError) as exc:
            return ProviderAnswer(
                provider,
                failure=PROVIDER_UNAVAILABLE,
                diagnostic=f"{provider} unreachable: {type(exc).__name__}",
            )
        except asyncio.CancelledError:
            raise
        if status_code != 200:
            return ProviderAnswer(
                provider, failure=PROVIDER_BAD_REPLY, diagnostic=f"{provider} answered HTTP {status_code}"
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return ProviderAnswer(
                provider, failure=PROVIDER_BAD_REPLY, diagnostic=f"{provider} sent invalid JSON"
            )
        return _reply(provider, body)

    async def post_many(
        self,
        *,
        provider: str,
        endpoint: str,
        message_type: str,
        payloads: list[dict[str, Any]],
        timeout_s: float | None = None,
    ) -> list[ProviderAnswer]:
        """Send many envelopes to one source in bulk; one answer per envelope, in order.

        ``POST {endpoint}/consult-batch/{message_type}`` with ``{"items": [envelope, ...]}``; the source
        answers ``{"items": [{"status", "data"} | {"error": {"status", "code", "message"}}, ...]}`` in the
        same order. Each item is judged like the answer of :meth:`post_json` (an item error is the HTTP
        error the single route would have given). Calls stay under :data:`BULK_BODY_BYTES` (a source's body
        limit is 1 MiB by default): more envelopes → several calls at once. A source without the bulk route
        (404/405) gets one ``POST {endpoint}/consult/{message_type}`` per envelope instead. A timeout or a
        failed connection fails every envelope of that call. ``timeout_s`` defaults to ``bulk_timeout_s``.
        """
        if self._session is None:
            raise RuntimeError("Forwarder.start() was not called")
        base = endpoint.rstrip("/")
        timeout = aiohttp.ClientTimeout(total=timeout_s or self._bulk_timeout_s)
        parts: list[tuple[list[dict[str, Any]], list[bytes]]] = []
        size = BULK_BODY_BYTES
        for payload in payloads:
            encoded = orjson.dumps(payload)
            if size + len(encoded) + 1 > BULK_BODY_BYTES:
                parts.append(([], []))
                size = 16
            parts[-1][0].append(payload)
            parts[-1][1].append(encoded)
            size += len(encoded) + 1
        calls = [self._post_bulk(provider, base, message_type, ps, es, timeout) for ps, es in parts]
        return [answer for got in await asyncio.gather(*calls) for answer in got]

    async def _post_bulk(
        self,
        provider: str,
        base: str,
        message_type: str,
        payloads: list[dict[str, Any]],
        encoded: list[bytes],
        timeout: aiohttp.ClientTimeout,
    ) -> list[ProviderAnswer]:
        session = self._session
        assert session is not None
        count = len(payloads)
        body = b'{"items":[' + b",".join(encoded) + b"]}"
        bulk_url = f"{base}/consult-batch/{message_type}"
        try:
            for attempt in (1, 2):
                try:
                    async with session.post(
                        bulk_url, data=body, headers=self._headers(body, bulk_url), timeout=timeout
                    ) as response:
                        raw = await response.read()
                        status_code = response.status
                    break
                except aiohttp.ServerDisconnectedError:
                    # a kept-alive connection the source closed just as it was reused: consultations are
                    # reads, so one more try on a fresh connection is safe
                    if attempt == 2:
                        raise
        except TimeoutError:
            failed = ProviderAnswer(
                provider, failure=PROVIDER_TIMEOUT, diagnostic=f"no answer from {provider} in time"
            )
            return [failed] * count
        except (aiohttp.ClientError, OSError) as exc:
            failed = ProviderAnswer(
                provider,
                failure=PROVIDER_UNAVAILABLE,
                diagnostic=f"{provider} unreachable: {type(exc).__name__}",
            )
            return [failed] * count
        if status_code in (404, 405):  # no bulk route at this source: one call per envelope
            url = f"{base}/consult/{message_type}"
            return list(
                await asyncio.gather(
                    *(self.post_json(provider=provider, url=url, payload=p) for p in payloads)
                )
            )
        if status_code != 200:
            failed = ProviderAnswer(
                provider, failure=PROVIDER_BAD_REPLY, diagnostic=f"{provider} answered HTTP {status_code}"
            )
            return [failed] * count
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
        items = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(items, list) or len(items) != count:
            failed = ProviderAnswer(
                provider, failure=PROVIDER_BAD_REPLY, diagnostic=f"{provider} sent an invalid bulk reply"
            )
            return [failed] * count
        answers = []
        for item in items:
            error = item.get("error") if isinstance(item, dict) else None
            if isinstance(error, dict):
                status = error.get("status")
                answers.append(
                    ProviderAnswer(
                        provider,
                        failure=PROVIDER_BAD_REPLY,
                        diagnostic=f"{provider} answered HTTP {status if isinstance(status, int) else 500}",
                    )
                )
            else:
                answers.append(_reply(provider, item))
        return answers

    async def post_raw(self, *, url: str, body: bytes) -> tuple[int, bytes]:
        """Plain pass-through (used by the benchmark's baseline proxy)."""
        session = self._session
        if session is None:
            raise RuntimeError("Forwarder.start() was not called")
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
            return response.status, await response.read()


def _reply(provider: str, body: Any) -> ProviderAnswer:
    """Judge one parsed ``ConsultReply`` (``{"status", "data"}``) of a source."""
    if not isinstance(body, dict) or body.get("status") not in _STATUSES:
        return ProviderAnswer(
            provider, failure=PROVIDER_BAD_REPLY, diagnostic=f"{provider} sent no valid status"
        )
    data = body.get("data")
    if data is not None and not isinstance(data, dict):
        return ProviderAnswer(
            provider, failure=PROVIDER_BAD_REPLY, diagnostic=f"{provider} sent invalid data"
        )
    return ProviderAnswer(provider, status=str(body["status"]), data=data)


def merge_data(answers: list[ProviderAnswer]) -> dict[str, Any] | None:
    """One reply from several sources: lists are concatenated, other values come from the first source."""
    found = [a.data for a in answers if a.status == "DATA_FOUND" and a.data is not None]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    merged: dict[str, Any] = {}
    for data in found:
        for key, value in data.items():
            if key in merged and isinstance(merged[key], list) and isinstance(value, list):
                merged[key] = merged[key] + value
            elif key not in merged:
                merged[key] = value
    return merged
