"""Record factories and constants shared by the audit tests (a plain module: ``conftest`` is ambiguous)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from kruispunt.audit.schemas import AuditRecord

PERSON = "85073003328"
OTHER_PERSON = "75060898009"
REQUESTER = "0244640631"
SOURCE = "0403019261"
BASE_TIME = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


def make_record(**overrides: Any) -> AuditRecord:
    """A typical allowed consultation; any field can be overridden."""
    fields: dict[str, Any] = {
        "ticket": str(uuid.uuid4()),
        "time": BASE_TIME,
        "channel": "rest",
        "outcome": "DATA_FOUND",
        "message_type": "identify_person",
        "version": "1",
        "requester": REQUESTER,
        "requester_sector": 17,
        "requester_type": 1,
        "user": "app-42",
        "destinations": (SOURCE,),
        "person": PERSON,
        "capacity": 101,
        "deliberation": "24/123",
        "legal_context": "PCSA:SOCIAL_INQUIRY",
        "reason_code": None,
        "customer_ticket": "cust-1",
    }
    fields.update(overrides)
    return AuditRecord(**fields)


def varied_record(i: int) -> AuditRecord:
    """Record ``i`` of a chain with some variety (refusals, searches without person, null fields)."""
    kind = i % 4
    return make_record(
        time=BASE_TIME + timedelta(minutes=i, microseconds=i),
        outcome=("DATA_FOUND", "NO_DATA_FOUND", "REFUSED", "ERROR")[kind],
        destinations=() if kind == 2 else (SOURCE,),
        person=None if i % 5 == 4 else (PERSON if i % 2 else OTHER_PERSON),
        reason_code="NO_DELIBERATION" if kind == 2 else None,
        customer_ticket=None if i % 3 == 0 else f"c-{i}",
        channel="soap" if i % 2 else "rest",
        capacity=None if kind == 2 else 101,
        legal_context="Ünïcode context ✓" if i % 7 == 0 else "PCSA:SOCIAL_INQUIRY",
    )


def write_chain_in_process(url: str, chain: int, count: int) -> tuple[int, str]:
    """Run in a child process: append ``count`` records on ``chain`` through a writer of that process.

    Returns the writer's last seq and hash. The records are appended from 8 asyncio tasks, so that the
    writer commits batches while the other process commits its own.
    """
    import asyncio

    from kruispunt.audit.service import AuditWriter
    from kruispunt.core.db import make_engine

    engine = make_engine(url)
    writer = AuditWriter(engine, chain=chain, flush_ms=1, batch_max=16)
    writer.start()
    try:

        async def appender(n: int) -> None:
            for i in range(n, count, 8):
                await writer.append(varied_record(i))

        async def main() -> None:
            await asyncio.gather(*(appender(n) for n in range(8)))

        asyncio.run(main())
    finally:
        writer.close()
        engine.dispose()
    return writer.last_seq, writer.last_hash
