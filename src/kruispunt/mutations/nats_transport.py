"""The NATS JetStream transport: a relay copies committed outbox rows to a stream, recipients read the stream.

* Subjects are ``kruispunt.changes.<stream>.<recipient>`` (the stream name lowercased): each stream owns a
  subject space of its own, so a test stream never captures the default stream's messages.
* The relay reads deliveries in ``id`` order after the stream's ``relay_position`` and publishes, per
  recipient, messages carrying up to :data:`MESSAGE_BYTES` of that recipient's deliveries (a JSON array):
  one JetStream message per delivery cost ~100 µs of client time each, ten times the database transport's
  whole cost (profiled). Publishes are pipelined (``publish_async``); when every ack is in, the messages
  (stream sequence, recipient, first and last delivery id) and the new position are written in one
  transaction. On any error the batch is published again from the database: never reordered, never lost.
* ``Nats-Msg-Id`` = ``<recipient>:<first id>-<last id>``: a batch published again unchanged is stored once.
  A batch published again differently (after a crash, more rows were committed meanwhile) overlaps what is
  stored; readers skip every delivery at or before their position, so none is seen twice.
* The cursor is the delivery ``id``, as on the database transport (a recipient's position means the same on
  both). A reader is a pull consumer (no acks: the position is kept in the database) on the recipient's
  subject, started at the message that holds the cursor, and reused while the caller continues from the
  last cursor it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from sqlalchemy import Engine

from kruispunt.mutations import service
from kruispunt.mutations.transport import DatabaseTransport, Transport

log = logging.getLogger(__name__)

DEFAULT_STREAM = "KRUISPUNT_CHANGES"
BATCH = 5000
MESSAGE_BYTES = 256 * 1024
"""Deliveries per message, by size: well under JetStream's 1 MB default ``max_payload``."""
FETCH_MESSAGES = 4
IDLE_POLL_S = 0.2
FETCH_WAIT_S = 0.05
DUPLICATE_WINDOW_S = 120.0


@dataclass
class _Reader:
    """A pull consumer of one recipient, positioned just after ``after`` (``buffered``: deliveries of a
    message already fetched, beyond what the last call could return)."""

    sub: JetStreamContext.PullSubscription
    after: int
    buffered: list[dict[str, Any]] = field(default_factory=list)


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
        self._position: int | None = None
        """The relay position as last read from or written to the database (re-read after an error)."""

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
                self._position = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if done == 0:
                self._idle.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_S)

    async def _relay_once(self) -> int:
        """Publish the next batch and move the stream's relay position; how many deliveries were relayed."""
        stream = self.stream
        if self._position is None:

            def position() -> int:
                with self.engine.connect() as conn:
                    return service.relay_position(conn, stream=stream)

            self._position = await asyncio.to_thread(position)
        after = self._position

        def read() -> list[tuple[int, str, bytes]]:
            with self.engine.connect() as conn:
                return service.relay_batch(conn, after=after, limit=BATCH)

        batch = await asyncio.to_thread(read)
        if not batch:
            return 0
        js = self.js
        sent: list[tuple[str, int, int, Any]] = []
        for recipient, first, last, body in _messages(batch):
            ack = await js.publish_async(
                f"{self.prefix}.{recipient}",
                body,
                headers={"Nats-Msg-Id": f"{recipient}:{first}-{last}"},
                wait_stall=10.0,
            )
            sent.append((recipient, first, last, ack))
        # every ack, or the batch is published again (what was stored unchanged is de-duplicated)
        acks = await asyncio.wait_for(asyncio.gather(*(a for *_, a in sent)), 30.0)
        # a duplicate (stored before a crash, not recorded) is recorded with the sequence it was stored at
        messages = [
            service.RelayedMessage(int(ack.seq), recipient, first, last)
            for (recipient, first, last, _), ack in zip(sent, acks, strict=True)
        ]
        last_id = batch[-1][0]

        def record() -> None:
            with self.engine.begin() as conn:
                service.record_relayed(conn, stream=stream, messages=messages, up_to=last_id)

        await asyncio.to_thread(record)
        self._position = last_id
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
        stream = self.stream

        def start() -> int:
            with self.engine.connect() as conn:
                return service.reader_start(conn, stream=stream, recipient=recipient, after=after)

        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=await asyncio.to_thread(start),
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
        )
        sub = await self.js.pull_subscribe(self._subject(recipient), stream=stream, config=config)
        reader = _Reader(sub, after)
        self._readers[recipient] = reader
        return reader

    async def fetch(self, recipient: str, *, after: int, limit: int) -> list[dict[str, Any]]:
        reader = await self._reader(recipient, after)
        if not reader.buffered:
            try:
                msgs = await reader.sub.fetch(FETCH_MESSAGES, timeout=FETCH_WAIT_S)
            except (TimeoutError, nats.errors.TimeoutError):
                return []
            loads = orjson.loads
            position = reader.after
            for msg in msgs:
                for delivered in loads(msg.data):
                    # a message published again after a crash overlaps what was read: skip by id
                    if int(delivered["cursor"]) > position:
                        reader.buffered.append(delivered)
                        position = int(delivered["cursor"])
        out = reader.buffered[:limit]
        del reader.buffered[:limit]
        if out:
            reader.after = int(out[-1]["cursor"])
        return out

    async def backlog(self, recipient: str, *, after: int) -> int:
        """Counted in the outbox (the cursor is the delivery id): relayed or not, all are still to read."""
        return await DatabaseTransport(self.engine).backlog(recipient, after=after)


def _messages(batch: list[tuple[int, str, bytes]]) -> list[tuple[str, int, int, bytes]]:
    """Per recipient, in order, messages of at most :data:`MESSAGE_BYTES`: ``(recipient, first, last,
    body)``."""
    per: dict[str, list[tuple[int, bytes]]] = {}
    for delivery_id, recipient, delivered in batch:
        per.setdefault(recipient, []).append((delivery_id, delivered))
    out: list[tuple[str, int, int, bytes]] = []
    for recipient, rows in per.items():
        chunk: list[tuple[int, bytes]] = []
        size = 0
        for row in rows:
            if chunk and size + len(row[1]) > MESSAGE_BYTES:
                out.append(_message(recipient, chunk))
                chunk, size = [], 0
            chunk.append(row)
            size += len(row[1]) + 1
        if chunk:
            out.append(_message(recipient, chunk))
    return out


def _message(recipient: str, chunk: list[tuple[int, bytes]]) -> tuple[str, int, int, bytes]:
    return recipient, chunk[0][0], chunk[-1][0], b"[" + b",".join(d for _, d in chunk) + b"]"


__all__ = ["DEFAULT_STREAM", "NatsTransport"]
