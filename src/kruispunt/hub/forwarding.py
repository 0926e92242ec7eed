"""Calls to the authentic sources over real HTTP, with a timeout on every call.

One shared aiohttp session (keep-alive connection pool) serves every provider: the hub is a router, and
opening a connection per message would cost more than the rest of the pipeline together.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from kruispunt.hub.errors import PROVIDER_BAD_REPLY, PROVIDER_TIMEOUT, PROVIDER_UNAVAILABLE, Reason

_STATUSES = frozenset({"DATA_FOUND", "NO_DATA_FOUND"})


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """What one source answered, or why it did not."""

    provider: str
    status: str | None = None
    data: dict[str, Any] | None = None
    failure: Reason | None = None
    diagnostic: str | None = None


class Forwarder:
    def __init__(self, *, timeout_s: float, max_connections: int = 256) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, json_serialize=lambda o: orjson.dumps(o).decode()
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_json(self, *, provider: str, url: str, payload: dict[str, Any]) -> ProviderAnswer:
        """POST ``payload`` to a source's consult endpoint and classify the outcome."""
        session = self._session
        if session is None:
            raise RuntimeError("Forwarder.start() was not called")
        try:
            async with session.post(
                url, data=orjson.dumps(payload), headers={"content-type": "application/json"}
            ) as response:
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

    async def post_raw(self, *, url: str, body: bytes) -> tuple[int, bytes]:
        """Plain pass-through (used by the benchmark's baseline proxy)."""
        session = self._session
        if session is None:
            raise RuntimeError("Forwarder.start() was not called")
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
            return response.status, await response.read()


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
