"""Record factories and constants shared by the audit tests (a plain module: ``conftest`` is ambiguous)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from kruispunt.audit.models import audit_entry, audit_head
from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import HASHED_FIELDS, entry_hash, iso_utc

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


def _chain_rows(conn: Connection) -> list[dict[str, Any]]:
    query = select(audit_entry).where(audit_entry.c.chain == 0).order_by(audit_entry.c.seq)
    return [dict(r._mapping) for r in conn.execute(query)]


def rewrite_from(engine: Engine, seq: int, **values: Any) -> None:
    """What an attacker with write access does: alter an entry, recompute every later hash and the head."""
    with engine.begin() as conn:
        prev = None
        for row in _chain_rows(conn):
            if row["seq"] < seq:
                prev = row["entry_hash"]
                continue
            if row["seq"] == seq:
                row.update(values)
            row["prev_hash"] = prev if prev is not None else row["prev_hash"]
            fields = {name: row[name] for name in HASHED_FIELDS}
            fields["occurred_at"] = iso_utc(row["occurred_at"])
            row["entry_hash"] = entry_hash(row["prev_hash"], fields)
            prev = row["entry_hash"]
            changed = dict(values) if row["seq"] == seq else {}
            conn.execute(
                update(audit_entry)
                .where((audit_entry.c.chain == 0) & (audit_entry.c.seq == row["seq"]))
                .values(**changed, prev_hash=row["prev_hash"], entry_hash=row["entry_hash"])
            )
        conn.execute(update(audit_head).where(audit_head.c.chain == 0).values(last_hash=prev))
