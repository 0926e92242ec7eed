"""A managing institution of a secondary network (NIC for the mutualities, POD MI for the OCMWs).

It holds no files itself. Its database keeps the member directory (``member_line``: which member holds a file
on which INSZ, for which span), fed at seeding and by the members when they open or close a file. A
consultation is forwarded over real HTTP to every member that knows the person —
``POST {members_url}/members/{kbo}/consult/{message_type}`` with the envelope's ``provider`` set to that
member — and the replies are merged: lists concatenated (each record keeps ``institution`` = the member),
other values from the first member. A member that fails or times out is left out (the reply says which in
the ``x-kruispunt-partial`` header; nothing is invented for it); when every member fails the managing
institution answers 502 ``MEMBERS_UNAVAILABLE``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pyarrow as pa
from fastapi import HTTPException
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from kruispunt.sources.common import ConsultReply, ConsultRequest, error_detail
from kruispunt.sources.extracts import read_arrow
from kruispunt.sources.social import service
from kruispunt.sources.social.definitions import SourceDef
from kruispunt.warehouse.schemas import RAW_FILES

_STATUSES = frozenset({"DATA_FOUND", "NO_DATA_FOUND"})


@dataclass(frozen=True)
class MemberAnswer:
    member: str
    status: str | None = None
    data: dict[str, Any] | None = None
    failure: str | None = None


@dataclass
class ForwardResult:
    reply: ConsultReply[dict[str, Any]]
    failed: dict[str, str] = field(default_factory=dict)
    """Members that did not answer, with why."""


def merge(answers: list[MemberAnswer]) -> dict[str, Any] | None:
    """Lists concatenated in member order, other values from the first member that has them."""
    merged: dict[str, Any] = {}
    found = False
    for answer in answers:
        if answer.status != "DATA_FOUND" or answer.data is None:
            continue
        found = True
        for key, value in answer.data.items():
            if key in merged and isinstance(merged[key], list) and isinstance(value, list):
                merged[key] = merged[key] + value
            elif key not in merged:
                merged[key] = value
    return merged if found else None


EXTRACT_TIMEOUT_S = 300.0
"""How long a member may take to build its quarterly extract."""


class ExtractUnavailable(RuntimeError):
    """A member's part of the warehouse extract could not be had."""


class ManagingNetwork:
    """Forwarding of one managing institution to its members' host."""

    def __init__(
        self,
        definition: SourceDef,
        members: SourceDef,
        *,
        engine: Engine,
        members_url: str | None,
        timeout_s: float,
    ) -> None:
        self.definition = definition
        self.members = members
        self.engine = engine
        self.members_url = members_url.rstrip("/") if members_url else None
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s),
                limits=httpx.Limits(max_connections=128, max_keepalive_connections=32),
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _members_knowing(self, insz: str) -> list[str]:
        with self.engine.connect() as conn:
            known = service.members_knowing(conn, insz=insz)
        return [kbo for kbo in known if kbo in self.members.institutions]

    async def _ask(self, member: str, message_type: str, payload: dict[str, Any]) -> MemberAnswer:
        client = self._client
        if client is None or self.members_url is None:
            return MemberAnswer(member, failure="no URL of the members' service is configured")
        url = f"{self.members_url}/members/{member}/consult/{message_type}"
        try:
            response = await client.post(
                url,
                content=orjson.dumps({**payload, "provider": member}),
                headers={"content-type": "application/json"},
            )
        except httpx.TimeoutException:
            return MemberAnswer(member, failure="no answer in time")
        except httpx.HTTPError as exc:
            return MemberAnswer(member, failure=f"unreachable: {type(exc).__name__}")
        if response.status_code != 200:
            return MemberAnswer(member, failure=f"answered HTTP {response.status_code}")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return MemberAnswer(member, failure="sent invalid JSON")
        if not isinstance(body, dict) or body.get("status") not in _STATUSES:
            return MemberAnswer(member, failure="sent no valid status")
        data = body.get("data")
        if data is not None and not isinstance(data, dict):
            return MemberAnswer(member, failure="sent invalid data")
        return MemberAnswer(member, status=str(body["status"]), data=data)

    async def extract_files(self, quarter: str) -> pa.Table:
        """Every member's quarterly files extract, together (the data warehouse's extract of this network).

        A member that does not answer fails the whole extract: a network's figures with a member missing
        would be wrong without saying so.
        """
        client = self._client
        if client is None or self.members_url is None:
            raise ExtractUnavailable("no URL of the members' service is configured")
        parts = []
        for member in self.members.institutions:
            url = f"{self.members_url}/members/{member}/warehouse/extract/files"
            try:
                response = await client.post(url, json={"quarter": quarter}, timeout=EXTRACT_TIMEOUT_S)
            except httpx.HTTPError as exc:
                raise ExtractUnavailable(f"member {member} unreachable: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise ExtractUnavailable(f"member {member} answered HTTP {response.status_code}")
            parts.append(read_arrow(response.content))
        return pa.concat_tables(parts) if parts else RAW_FILES.empty_table()

    async def answer(self, envelope: ConsultRequest[Any]) -> ForwardResult:
        """Forward one consultation to the members that know the person and merge their replies.

        Raises ``HTTPException`` 404 (unknown message type or version), ``RequestValidationError`` (no
        person, a bad body) or ``HTTPException`` 502 (every member asked failed).
        """
        _, insz, _ = service.checked_consultation(self.definition, envelope)
        members = await run_in_threadpool(self._members_knowing, insz)
        if envelope.provider in self.members.institutions:
            members = [m for m in members if m == envelope.provider]
        if not members:
            return ForwardResult(ConsultReply[dict[str, Any]](status="NO_DATA_FOUND"))
        payload = envelope.model_dump(mode="json")
        answers = await asyncio.gather(*(self._ask(m, envelope.message_type, payload) for m in members))
        failed = {a.member: a.failure for a in answers if a.failure is not None}
        if len(failed) == len(answers):
            raise HTTPException(
                status_code=502,
                detail=error_detail(
                    "MEMBERS_UNAVAILABLE",
                    f"no member of {self.definition.name} that knows the person answered",
                    members=failed,
                ),
            )
        data = merge(list(answers))
        if data is None:
            return ForwardResult(ConsultReply[dict[str, Any]](status="NO_DATA_FOUND"), failed)
        return ForwardResult(ConsultReply[dict[str, Any]](status="DATA_FOUND", data=data), failed)
