"""The NATS JetStream transport: a relay copies committed outbox rows to a stream, recipients read the stream.

* Subjects are ``kruispunt.changes.<stream>.<recipient>`` (the stream name lowercased): each stream owns a
  subject space of its own, so a test stream never captures the default stream's messages.
* Each delivery is published with ``Nats-Msg-Id`` = its key: a relay repeated after a crash between the
  publish and :func:`~kruispunt.mutations.service.mark_relayed` is de-duplicated by the server (within the
  duplicate window), so each key is in the stream once.
* Publishes are pipelined (``publish_async``) and all acks awaited before the batch is marked relayed; on
  any error the batch is retried from the database (never reordered, never lost).
* The cursor is the JetStream stream sequence; ``fetch`` reads with a pull consumer (no acks: the
  recipient's position is kept in the database) filtered on the recipient's subject, reused while the
  caller continues from the last cursor it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import nats
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from sqlalchemy import Engine

from kruispunt.mutations import service
from kruispunt.mutations.transport import Transport

log = logging.getLogger(__name__)

DEFAULT_STREAM = "KRUISPUNT_CHANGES"
BATCH = 1000
IDLE_POLL_S = 0.2
FETCH_WAIT_S = 0.05
DUPLICATE_WINDOW_S = 120.0


@dataclass
class _Reader:
    """A pull consumer of one recipient, positioned just after ``after``."""

    sub: JetStreamContext.PullSubscription
    after: int


class NatsTransport(Transport):
    """Deliveries relayed to a JetStream stream and served from it."""

    name = "nats"

    def __init__(self, engine: Engine, *, url: str, stream: str | None = None) -> None:
        super().__init__(engine)
        self.url = url
        self.stream = stream or DEFAULT_STREAM
        self.prefix = f"kruispunt.changes.{self.stream.lower()}"
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._relay: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._stopping = False
        self._readers: dict[str, _Reader] = {}
        self.relayed = 0
        """Deliveries relayed by this instance (for the benchmark)."""

    # ------------------------------------------------------------------------------------------ life

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the NATS transport is not started")
        return self._js

    async def start(self) -> None:
        """Connect, make sure the stream exists, start the relay."""
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._nc = await nats.connect(self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        self._js = self._nc.jetstream(publish_async_max_pending=20_000)
        config = api.StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            discard=api.DiscardPolicy.OLD,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(config)
        self._stopping = False
        self._relay = asyncio.create_task(self._run(), name=f"nats-relay-{self.stream}")

    async def close(self) -> None:
        """Stop the relay (what is not relayed stays pending in the outbox) and disconnect."""
        self._stopping = True
        self._wake.set()
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
            self._relay = None
        for reader in self._readers.values():
            with contextlib.suppress(Exception):
                await reader.sub.unsubscribe()
        self._readers.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
            self._js = None

    async def delete_stream(self) -> None:
        """Drop the stream (tests use one per test)."""
        with contextlib.suppress(NotFoundError):
            await self.js.delete_stream(self.stream)

    def wake(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until the relay found the outbox empty after this call."""
        self.wake()
        await asyncio.wait_for(self._idle.wait(), timeout_s)

    # ----------------------------------------------------------------------------------------- relay

    async def _run(self) -> None:
        """Relay batches until stopped; on error log, back off, and retry from the database."""
        backoff = 0.1
        while not self._stopping:
            try:
                # cleared before reading: a wake() during the read is seen on the next round
                self._wake.clear()
                done = await self._relay_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("NATS relay failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if done == 0:
                self._idle.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)

    async def _relay_once(self) -> int:
        """Publish the next batch and mark it relayed; how many were relayed."""

        def read() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                return service.relay_batch(conn, limit=BATCH)

        batch = await asyncio.to_thread(read)
        if not batch:
            return 0
        js = self.js
        dumps = orjson.dumps
        futures = []
        for d in batch:
            body = {
                "key": d["key"],
                "seq": d["seq"],
                "recipient": d["recipient"],
                "capacity": d["capacity"],
                "deliberation": d["deliberation"],
                "change": d["change"],
            }
            futures.append(
                await js.publish_async(
                    f"{self.prefix}.{d['recipient']}",
                    dumps(body),
                    headers={"Nats-Msg-Id": d["key"]},
                    wait_stall=10.0,
                )
            )
        # every ack, or the batch is retried (dedupe makes re-publishing what was stored harmless)
        await asyncio.wait_for(asyncio.gather(*futures), 30.0)
        last = int(batch[-1]["id"])

        def mark() -> None:
            with self.engine.begin() as conn:
                service.mark_relayed(conn, up_to=last)

        await asyncio.to_thread(mark)
        self.relayed += len(batch)
        return len(batch)

    # ------------------------------------------------------------------------------------------- read

    def _subject(self, recipient: str) -> str:
        return f"{self.prefix}.{recipient}"

    async def _reader(self, recipient: str, after: int) -> _Reader:
        reader = self._readers.get(recipient)
        if reader is not None and reader.after == after:
            return reader
        if reader is not None:
            self._readers.pop(recipient)
            with contextlib.suppress(Exception):
                await reader.sub.unsubscribe()
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
        )
        sub = await self.js.pull_subscribe(self._subject(recipient), stream=self.stream, config=config)
        reader = _Reader(sub, after)
        self._readers[recipient] = reader
        return reader

    async def fetch(self, recipient: str, *, after: int, limit: int) -> list[dict[str, Any]]:
        reader = await self._reader(recipient, after)
        try:
            msgs = await reader.sub.fetch(limit, timeout=FETCH_WAIT_S)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        loads = orjson.loads
        out: list[dict[str, Any]] = []
        for msg in msgs:
            body = loads(msg.data)
            body["cursor"] = int(msg.metadata.sequence.stream)
            out.append(service.delivered_payload(body))
        if out:
            reader.after = out[-1]["cursor"]
        return out

    async def backlog(self, recipient: str, *, after: int) -> int:
        """Counted by a throw-away consumer started after ``after`` (its ``num_pending``)."""
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=api.AckPolicy.NONE,
            filter_subject=self._subject(recipient),
            inactive_threshold=5.0,
            mem_storage=True,
        )
        info = await self.js.add_consumer(self.stream, config)
        with contextlib.suppress(Exception):
            await self.js.delete_consumer(self.stream, info.name)
        return int(info.num_pending or 0)


__all__ = ["DEFAULT_STREAM", "NatsTransport"]
