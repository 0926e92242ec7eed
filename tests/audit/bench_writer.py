"""Quick throughput measurement of the audit writer (not a test): ``python tests/audit/bench_writer.py``.

Appends N records from C concurrent asyncio appenders through one AuditWriter, then verifies the chain.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter, verify
from kruispunt.core.db import drop_database, make_engine
from kruispunt.core.migrate import upgrade


def record(i: int) -> AuditRecord:
    return AuditRecord(
        ticket=str(uuid.uuid4()),
        time=datetime.now(UTC),
        channel="rest",
        outcome="DATA_FOUND",
        message_type="identify_person",
        version="1",
        requester="0244640631",
        requester_sector=17,
        requester_type=1,
        user="app-1",
        destinations=("0367302178",),
        person="85073003328",
        capacity=101,
        deliberation="24/123",
        legal_context="PCSA:SOCIAL_INQUIRY",
        customer_ticket=f"c-{i}",
    )


async def run(url: str, total: int, concurrency: int, flush_ms: float | None, batch_max: int | None) -> None:
    upgrade(url, "audit")
    engine = make_engine(url)
    writer = AuditWriter(engine, flush_ms=flush_ms, batch_max=batch_max)
    writer.start()
    everything = [record(i) for i in range(total)]
    records = [everything[c::concurrency] for c in range(concurrency)]  # exactly `total`, spread evenly

    async def appender(mine: list[AuditRecord]) -> None:
        for r in mine:
            await writer.append(r)

    start = time.perf_counter()
    await asyncio.gather(*(appender(m) for m in records))
    elapsed = time.perf_counter() - start
    writer.close()
    print(
        f"{url.split(':')[0]}: {total} appends, {concurrency} appenders: {elapsed:.2f}s "
        f"= {total / elapsed:,.0f} appends/s"
    )
    start = time.perf_counter()
    report = verify(engine)
    print(f"verify: ok={report.ok} checked={report.checked} in {time.perf_counter() - start:.2f}s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("-c", type=int, default=64)
    parser.add_argument("--flush-ms", type=float)
    parser.add_argument("--batch-max", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'audit.db'}"
        try:
            asyncio.run(run(url, args.n, args.c, args.flush_ms, args.batch_max))
        finally:
            drop_database(url)


if __name__ == "__main__":
    main()
