"""Push delivery: deliveries POSTed to each push recipient's callback, signed, in order, with retries.

One loop per recipient (so a slow or dead recipient holds up no other): fetch what follows its acknowledged
position from the transport, POST it as one signed batch, and on a ``2xx`` move the position past it. A
failure is retried with exponential backoff and full jitter; the batch is then narrowed to its first
delivery, so that one the recipient refuses for good (a ``4xx`` other than 408/425/429) or that fails
``max_attempts`` times is isolated and put in the dead-letter store with the reason — and the recipient
moves on to the next. Order per recipient (and so per person) is kept: nothing after a delivery is sent
before it is acknowledged or dead-lettered.

Signature: ``X-Kruispunt-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``, the
scheme webhook receivers know; :func:`verify_signature` is the receiver's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from kruispunt.mutations import service
from kruispunt.mutations.transport import Transport

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Kruispunt-Signature"
RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(secret: str, body: bytes, *, at: int | None = None) -> str:
    moment = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def verify_signature(secret: str, body: bytes, header: str | None, *, tolerance_s: int = 300) -> bool:
    """The receiver's check: the signature is the sender's, over this body, and recent."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        moment = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - moment) > tolerance_s:
        return False
    expected = sign(secret, body, at=moment).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff_s(attempt: int, *, base_s: float, cap_s: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^attempt))."""
    return random.uniform(0, min(cap_s, base_s * (2 ** max(0, attempt - 1))))


@dataclass
class PushSettings:
    batch: int = 500
    max_attempts: int = 8
    base_s: float = 0.5
    cap_s: float = 60.0
    timeout_s: float = 10.0
    idle_s: float = 0.5
    """How long a loop with nothing to send waits before it looks again (a commit wakes it earlier)."""


class PushWorker:
    """The push loops of one mutations service, one task per push recipient."""

    def __init__(self, engine: Engine, transport: Transport, settings: PushSettings | None = None) -> None:
        self.engine = engine
        self.transport = transport
        self.settings = settings or PushSettings()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._client: httpx.AsyncClient | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.timeout_s)
        self._supervisor = asyncio.create_task(self._supervise(), name="kruispunt-push-supervisor")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        tasks = [t for t in (self._supervisor, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _supervise(self) -> None:
        """Start a loop for each push recipient (and for one that becomes a push recipient later)."""
        while not self._stopping:
            targets = await run_in_threadpool(self._targets)
            for kbo in targets:
                task = self._tasks.get(kbo)
                if task is None or task.done():
                    self._tasks[kbo] = asyncio.create_task(self._loop(kbo), name=f"kruispunt-push-{kbo}")
            await asyncio.sleep(2.0)

    def _targets(self) -> list[str]:
        with self.engine.connect() as conn:
            return [kbo for kbo, _, _ in service.push_targets(conn)]

    async def _wait(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _loop(self, kbo: str) -> None:
        narrow = False
        while not self._stopping:
            try:
                state, url, secret = await run_in_threadpool(self._state, kbo)
                if state is None or state.mode != "push" or not url:
                    return
                if state.next_try_at is not None:
                    delay = (state.next_try_at - service.utc_now()).total_seconds()
                    if delay > 0:
                        await asyncio.sleep(min(delay, self.settings.cap_s))
                        continue
                limit = 1 if narrow else self.settings.batch
                batch = await self.transport.fetch(kbo, after=state.acked, limit=limit)
                if not batch:
                    await self._wait(self.settings.idle_s)
                    continue
                ok, error, permanent = await self._post(url, secret, batch)
                if ok:
                    narrow = False
                    await run_in_threadpool(self._acked, kbo, int(batch[-1]["cursor"]))
                    continue
                attempts = state.attempts + 1
                if len(batch) == 1 and (permanent or attempts >= self.settings.max_attempts):
                    reason = f"{'refused' if permanent else 'failed'} after {attempts} attempts: {error}"
                    await run_in_threadpool(self._dead, kbo, batch[0], reason, attempts)
                    narrow = False
                    continue
                narrow = True
                delay = backoff_s(attempts, base_s=self.settings.base_s, cap_s=self.settings.cap_s)
                await run_in_threadpool(self._failed, kbo, error, delay)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database or transport hiccup: keep the loop alive, try again shortly
                log.exception("push loop of %s failed; retrying", kbo)
                await asyncio.sleep(1.0)

    async def _post(
        self, url: str, secret: str | None, batch: list[dict[str, Any]]
    ) -> tuple[bool, str, bool]:
        assert self._client is not None
        body = orjson.dumps({"deliveries": batch})
        headers = {"content-type": "application/json"}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}", False
        if 200 <= response.status_code < 300:
            return True, "", False
        permanent = 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_STATUS
        return False, f"HTTP {response.status_code}: {response.text[:300]}", permanent

    def _state(self, kbo: str) -> tuple[service.RecipientState | None, str | None, str | None]:
        with self.engine.connect() as conn:
            state = service.get_recipient(conn, kbo)
            targets = {k: (u, s) for k, u, s in service.push_targets(conn)}
        url, secret = targets.get(kbo, (None, None))
        return state, url, secret

    def _acked(self, kbo: str, cursor: int) -> None:
        with self.engine.begin() as conn:
            service.ack(conn, recipient=kbo, cursor=cursor)

    def _failed(self, kbo: str, error: str, delay_s: float) -> None:
        with self.engine.begin() as conn:
            service.failed_push(
                conn,
                recipient=kbo,
                error=error,
                next_try_at=service.utc_now() + dt.timedelta(seconds=delay_s),
            )

    def _dead(self, kbo: str, delivered: Mapping[str, Any], reason: str, attempts: int) -> None:
        with self.engine.begin() as conn:
            service.dead_letter(conn, recipient=kbo, delivered=delivered, reason=reason, attempts=attempts)
        log.warning("delivery %s to %s dead-lettered: %s", delivered.get("key"), kbo, reason)
