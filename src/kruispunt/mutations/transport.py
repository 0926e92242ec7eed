"""How deliveries travel from the outbox to their recipients: the database (embedded default) or NATS
JetStream (scale). Same semantics on both, tested by one suite (``tests/mutations/test_transport.py``):

* a recipient reads its deliveries in order with :meth:`Transport.fetch` ``after`` a cursor (exclusive);
  cursors are opaque increasing integers of that transport;
* every delivery committed to the outbox is fetched at least once; fetched twice, it carries the same
  ``key``, which the recipient applies once;
* a recipient's position (what it acknowledged) is kept in the mutations database on both transports
  (:func:`kruispunt.mutations.service.ack`), so replaying is moving that position back.

The database transport serves the ``delivery`` rows themselves. The NATS transport
(:mod:`kruispunt.mutations.nats_transport`) relays them, once committed, to a JetStream stream (subject
``kruispunt.changes.<recipient>``, message id = key, so a relay repeated after a crash is de-duplicated by
the server) and serves the stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from kruispunt.mutations import service


class Transport(ABC):
    """A way for deliveries to reach recipients."""

    name: ClassVar[str]

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def start(self) -> None:  # noqa: B027 — a hook; nothing to do by default
        """Connect and start what runs in the background (the NATS relay)."""

    async def close(self) -> None:  # noqa: B027 — a hook; nothing to do by default
        """Stop and disconnect; what was committed stays in the outbox."""

    def wake(self) -> None:  # noqa: B027 — a hook; nothing to do by default
        """New deliveries were committed (the relay need not wait for its next poll)."""

    @abstractmethod
    async def fetch(self, recipient: str, *, after: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` of the recipient's deliveries after ``after``, in order (delivered payloads:
        ``key``, ``cursor``, ``seq``, ``recipient``, ``capacity``, ``deliberation``, ``change``)."""

    @abstractmethod
    async def backlog(self, recipient: str, *, after: int) -> int:
        """How many of the recipient's deliveries lie after ``after`` (on this transport)."""

    async def flush(self, timeout_s: float = 30.0) -> None:  # noqa: B027 — a hook; nothing to do by default
        """Wait until everything committed so far can be fetched (the NATS relay has caught up)."""


class DatabaseTransport(Transport):
    """The ``delivery`` rows are the queue: a recipient's feed is a range query on its index."""

    name = "database"

    async def fetch(self, recipient: str, *, after: int, limit: int) -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with self.engine.connect() as conn:
                return service.feed(conn, recipient=recipient, after=after, limit=limit)

        return await run_in_threadpool(read)

    async def backlog(self, recipient: str, *, after: int) -> int:
        def count() -> int:
            with self.engine.connect() as conn:
                return service.pending_count(conn, recipient=recipient, after=after)

        return await run_in_threadpool(count)


TRANSPORTS = ("database", "nats")


def make_transport(
    name: str, engine: Engine, *, nats_url: str | None = None, stream: str | None = None
) -> Transport:
    """The transport by its name (``KRUISPUNT_MUTATIONS_TRANSPORT``)."""
    if name == "database":
        return DatabaseTransport(engine)
    if name == "nats":
        from kruispunt.mutations.nats_transport import NatsTransport

        return NatsTransport(engine, url=nats_url or "nats://127.0.0.1:4222", stream=stream)
    raise ValueError(f"unknown mutations transport {name!r}; known: {', '.join(TRANSPORTS)}")
