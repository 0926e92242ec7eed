"""The one test suite both transports pass (database and NATS JetStream): every committed delivery can be
fetched, in order per recipient (so per person), paged by cursor, the same key however often it is
fetched, each recipient seeing only its own; the backlog counts what lies after a cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import Engine

from kruispunt.mutations.transport import Transport
from tests.mutations.conftest import (
    CM,
    KSZ,
    OCMW_GENT,
    ingest,
    known_by_ocmw_and_mutuality,
    people,
    unemployment,
)

Opener = Callable[[], AbstractAsyncContextManager[Transport]]


async def everything(t: Transport, recipient: str, *, page: int = 7) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        batch = await t.fetch(recipient, after=after, limit=page)
        if not batch:
            return out
        assert len(batch) <= page
        out.extend(batch)
        after = int(batch[-1]["cursor"])


def test_every_delivery_in_order_paged_and_per_recipient(
    mutations_engine: Engine, open_transport: Opener
) -> None:
    inszs = people(10)
    lines = known_by_ocmw_and_mutuality(inszs[:6])  # the last four: only the rights engine knows them
    changes = [unemployment(n, inszs[n % 10]) for n in range(40)]

    async def scenario() -> None:
        async with open_transport() as t:
            ingest(mutations_engine, changes[:25], lines)
            t.wake()
            ingest(mutations_engine, changes[25:], lines)
            t.wake()
            await t.flush()
            ksz = await everything(t, KSZ)
            ocmw = await everything(t, OCMW_GENT)
            cm = await everything(t, CM)
            assert [d["change"]["change_id"] for d in ksz] == [c["change_id"] for c in changes]
            expected = [c["change_id"] for c in changes if c["insz"] in lines]
            assert [d["change"]["change_id"] for d in ocmw] == expected
            assert [d["change"]["change_id"] for d in cm] == expected
            for got in (ksz, ocmw, cm):
                cursors = [int(d["cursor"]) for d in got]
                assert cursors == sorted(cursors)
                assert len(set(cursors)) == len(cursors)
                seqs = [int(d["seq"]) for d in got]
                assert seqs == sorted(seqs)
            assert {d["recipient"] for d in ocmw} == {OCMW_GENT}
            assert {d["key"] for d in ocmw} == {f"{d['seq']}:{OCMW_GENT}" for d in ocmw}
            assert {(d["capacity"], d["deliberation"]) for d in ocmw} == {(2, "24/104")}
            assert {(d["capacity"], d["deliberation"]) for d in ksz} == {(None, "24/102")}
            # read again from the start: the same deliveries, the same keys
            again = await everything(t, OCMW_GENT, page=100)
            assert [d["key"] for d in again] == [d["key"] for d in ocmw]
            # from a cursor in the middle
            middle = int(ocmw[9]["cursor"])
            rest = await t.fetch(OCMW_GENT, after=middle, limit=1000)
            assert [d["key"] for d in rest] == [d["key"] for d in ocmw[10:]]
            assert await t.backlog(OCMW_GENT, after=0) == len(ocmw)
            assert await t.backlog(OCMW_GENT, after=middle) == len(ocmw) - 10
            assert await t.fetch("0410337021", after=0, limit=10) == []

    asyncio.run(scenario())


def test_a_change_published_twice_is_delivered_once(mutations_engine: Engine, open_transport: Opener) -> None:
    inszs = people(3)
    lines = known_by_ocmw_and_mutuality(inszs)
    changes = [unemployment(n, inszs[n]) for n in range(3)]

    async def scenario() -> None:
        async with open_transport() as t:
            ingest(mutations_engine, changes, lines)
            ingest(mutations_engine, changes, lines)  # the source retried
            t.wake()
            await t.flush()
            got = await everything(t, OCMW_GENT)
            assert [d["change"]["change_id"] for d in got] == ["rva-0", "rva-1", "rva-2"]

    asyncio.run(scenario())


def test_a_transport_restarted_serves_what_was_committed_meanwhile(
    mutations_engine: Engine, open_transport: Opener
) -> None:
    inszs = people(4)
    lines = known_by_ocmw_and_mutuality(inszs)

    async def scenario() -> None:
        async with open_transport() as t:
            ingest(mutations_engine, [unemployment(0, inszs[0])], lines)
            t.wake()
            await t.flush()
            first = await everything(t, CM)
        # committed while no transport ran (the service was down)
        ingest(mutations_engine, [unemployment(n, inszs[n]) for n in range(1, 4)], lines)
        async with open_transport() as t2:
            await t2.flush()
            got = await everything(t2, CM)
            if first and got and got[0]["cursor"] != first[0]["cursor"]:
                # a fresh stream (NATS, per test): everything relayed again, still once each
                pass
            assert [d["change"]["change_id"] for d in got][-3:] == ["rva-1", "rva-2", "rva-3"]
            assert len({d["key"] for d in got}) == len(got)

    asyncio.run(scenario())
