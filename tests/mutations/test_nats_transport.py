"""NATS-only behaviour of the transport: a relay repeated after a crash stores each key once (server
de-duplication by ``Nats-Msg-Id``), ``wake`` relays at once, and a large outbox is relayed fully (the
rates are printed: ``pytest -s``)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import Engine, delete, select, update

from kruispunt.mutations.models import relay_position_table, relayed_message_table
from tests.mutations.conftest import (
    CM,
    KSZ,
    NATS_URL,
    OCMW_GENT,
    ingest,
    known_by_ocmw_and_mutuality,
    nats_reachable,
    people,
    unemployment,
)

nats_transport = pytest.importorskip("kruispunt.mutations.nats_transport")
pytestmark = pytest.mark.skipif(not nats_reachable(), reason=f"no NATS server at {NATS_URL}")


def _transport(engine: Engine) -> nats_transport.NatsTransport:
    return nats_transport.NatsTransport(
        engine, url=NATS_URL, stream=f"KPTEST_{uuid.uuid4().hex[:10].upper()}"
    )


async def _all(t: nats_transport.NatsTransport, recipient: str, page: int = 1000) -> list[dict[str, object]]:
    return await _all_after(t, recipient, 0, page)


async def _all_after(
    t: nats_transport.NatsTransport, recipient: str, after: int, page: int = 1000
) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    while batch := await t.fetch(recipient, after=after, limit=page):
        out.extend(batch)
        after = int(str(batch[-1]["cursor"]))
    return out


async def _relayed_then_crashed(engine: Engine) -> str:
    """Relay everything to a new stream, then lose the record of it (the crash: published, but neither the
    messages nor the position were written); the stream's name."""
    first = _transport(engine)
    await first.start()
    await first.flush()
    await first.close()
    with engine.begin() as conn:
        conn.execute(update(relay_position_table).values(position=0))
        conn.execute(delete(relayed_message_table))
    return first.stream


def test_a_relay_repeated_after_a_crash_stores_each_key_once(mutations_engine: Engine) -> None:
    inszs = people(5)
    lines = known_by_ocmw_and_mutuality(inszs)
    ingest(mutations_engine, [unemployment(n, inszs[n]) for n in range(5)], lines)

    async def scenario() -> None:
        stream = await _relayed_then_crashed(mutations_engine)
        t = nats_transport.NatsTransport(mutations_engine, url=NATS_URL, stream=stream)
        await t.start()
        try:
            await t.flush()
            got = await _all(t, OCMW_GENT)
            assert [d["change"]["change_id"] for d in got] == [f"rva-{n}" for n in range(5)]  # type: ignore[index]
            info = await t.js.stream_info(t.stream)
            assert info.state.messages == 3  # one message per recipient, published again, stored once
            assert t.relayed == 15
        finally:
            await t.delete_stream()
            await t.close()

    asyncio.run(scenario())


def test_a_relay_published_again_differently_is_read_once(mutations_engine: Engine) -> None:
    """After the crash more changes were committed: the batch published again overlaps what is stored."""
    inszs = people(8)
    lines = known_by_ocmw_and_mutuality(inszs)
    ingest(mutations_engine, [unemployment(n, inszs[n]) for n in range(5)], lines)

    async def scenario() -> None:
        stream = await _relayed_then_crashed(mutations_engine)
        ingest(mutations_engine, [unemployment(n, inszs[n]) for n in range(5, 8)], lines)
        t = nats_transport.NatsTransport(mutations_engine, url=NATS_URL, stream=stream)
        await t.start()
        try:
            await t.flush()
            info = await t.js.stream_info(t.stream)
            assert info.state.messages == 6  # 3 before the crash, 3 overlapping them after
            for recipient in (OCMW_GENT, CM):
                got = await _all(t, recipient, page=2)
                assert [d["change"]["change_id"] for d in got] == [f"rva-{n}" for n in range(8)]  # type: ignore[index]
                # from a cursor in the middle: the rest, once
                rest = await _all_after(t, recipient, int(str(got[2]["cursor"])))
                assert [d["change"]["change_id"] for d in rest] == [f"rva-{n}" for n in range(3, 8)]  # type: ignore[index]
        finally:
            await t.delete_stream()
            await t.close()

    asyncio.run(scenario())


def test_wake_relays_at_once(mutations_engine: Engine) -> None:
    inszs = people(1)
    lines = known_by_ocmw_and_mutuality(inszs)

    async def scenario() -> None:
        t = _transport(mutations_engine)
        await t.start()
        try:
            await t.flush()
            await asyncio.sleep(0.05)  # the relay is idle, polling
            ingest(mutations_engine, [unemployment(0, inszs[0])], lines)
            began = time.perf_counter()
            t.wake()
            while not await t.fetch(CM, after=0, limit=10):
                assert time.perf_counter() - began < 5
            latency = time.perf_counter() - began
            print(f"\nwake → fetchable: {latency * 1000:.1f} ms")
        finally:
            await t.delete_stream()
            await t.close()

    asyncio.run(scenario())


def test_a_large_outbox_is_relayed_fully(mutations_engine: Engine) -> None:
    inszs = people(500)
    lines = known_by_ocmw_and_mutuality(inszs)
    changes = [unemployment(n, inszs[n % 500]) for n in range(7000)]  # 3 recipients each: 21,000 deliveries
    for i in range(0, len(changes), 1000):
        ingest(mutations_engine, changes[i : i + 1000], lines)

    async def scenario() -> None:
        t = _transport(mutations_engine)
        began = time.perf_counter()
        await t.start()
        try:
            await t.flush(timeout_s=120)
            relay_s = time.perf_counter() - began
            assert t.relayed == 21_000
            with mutations_engine.connect() as conn:
                carried = conn.execute(
                    select(relayed_message_table.c.first_id, relayed_message_table.c.last_id)
                ).all()
            info = await t.js.stream_info(t.stream)
            assert info.state.messages == len(carried) < 21_000  # many deliveries per message
            began = time.perf_counter()
            got = await _all(t, KSZ)
            fetch_s = time.perf_counter() - began
            assert [d["change"]["change_id"] for d in got] == [c["change_id"] for c in changes]  # type: ignore[index]
            print(
                f"\nrelay: {21_000 / relay_s:,.0f} deliveries/s ({relay_s:.2f} s); "
                f"fetch: {len(got) / fetch_s:,.0f} deliveries/s ({fetch_s:.2f} s, pages of 1000)"
            )
        finally:
            await t.delete_stream()
            await t.close()

    asyncio.run(scenario())
