"""Quick throughput measurement of the audit writer (not a test): ``python tests/audit/bench_writer.py``.

Appends N records from C concurrent asyncio appenders through one AuditWriter per chain (``--chains K``:
K writers in this process, chains 0..K-1; ``--processes P``: P processes on one database, each with its own
writer and chain), then verifies the log. Prints appends/s and the CPU time this process spent per append
(``process_time``; with ``--processes`` the sum over the processes): the hub is GIL-bound, so the CPU per
append is what the log costs it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
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


def _writer(url: str, chain: int, flush_ms: float | None, batch_max: int | None) -> AuditWriter:
    engine = make_engine(url)
    if chain == 0:  # works against the single-chain writer too (before/after comparisons)
        return AuditWriter(engine, flush_ms=flush_ms, batch_max=batch_max)
    return AuditWriter(engine, chain=chain, flush_ms=flush_ms, batch_max=batch_max)


async def _append_all(
    url: str, chains: range, total: int, concurrency: int, flush_ms: float | None, batch_max: int | None
) -> tuple[float, float]:
    """Append ``total`` records spread over the writers of ``chains``: (wall seconds, CPU seconds)."""
    writers = [_writer(url, chain, flush_ms, batch_max) for chain in chains]
    for writer in writers:
        writer.start()
    everything = [record(i) for i in range(total)]
    records = [everything[c::concurrency] for c in range(concurrency)]  # exactly `total`, spread evenly

    async def appender(writer: AuditWriter, mine: list[AuditRecord]) -> None:
        for r in mine:
            await writer.append(r)

    cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(appender(writers[i % len(writers)], m) for i, m in enumerate(records)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    for writer in writers:
        writer.close()
    return elapsed, cpu


def _process(
    url: str, chain: int, total: int, concurrency: int, flush_ms: float | None, batch_max: int | None
) -> tuple[float, float]:
    return asyncio.run(_append_all(url, range(chain, chain + 1), total, concurrency, flush_ms, batch_max))


def run(url: str, args: argparse.Namespace) -> float:
    upgrade(url, "audit")
    if args.processes > 1:
        share = args.n // args.processes
        context = multiprocessing.get_context("spawn")
        with context.Pool(args.processes) as pool:
            start = time.perf_counter()
            results = pool.starmap(
                _process,
                [(url, p, share, args.c, args.flush_ms, args.batch_max) for p in range(args.processes)],
            )
            elapsed = time.perf_counter() - start  # includes the workers' start-up
        total = share * args.processes
        cpu = sum(c for _, c in results)
        shape = f"{args.processes} processes x {args.c} appenders"
    else:
        total = args.n
        elapsed, cpu = asyncio.run(
            _append_all(url, range(args.chains), total, args.c, args.flush_ms, args.batch_max)
        )
        shape = f"{args.chains} chain(s), {args.c} appenders"
    rate = float(total / elapsed)
    print(
        f"{url.split(':')[0]}: {total} appends, {shape}: {elapsed:.2f}s = {rate:,.0f} appends/s, "
        f"{cpu / total * 1e6:.1f} µs CPU/append"
    )
    engine = make_engine(url)
    start = time.perf_counter()
    report = verify(engine)
    print(f"verify: ok={report.ok} checked={report.checked} in {time.perf_counter() - start:.2f}s")
    engine.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("-c", type=int, default=64)
    parser.add_argument("--flush-ms", type=float)
    parser.add_argument("--batch-max", type=int)
    parser.add_argument("--chains", type=int, default=1, help="writers (chains) in this process")
    parser.add_argument("--processes", type=int, default=1, help="processes, each with its own chain")
    parser.add_argument("--repeat", type=int, default=1, help="runs on fresh databases; prints the median")
    args = parser.parse_args()
    rates = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.url or f"sqlite:///{Path(tmp) / 'audit.db'}"
            try:
                rates.append(run(url, args))
            finally:
                drop_database(url)
    if args.repeat > 1:
        print(f"median of {args.repeat}: {statistics.median(rates):,.0f} appends/s")


if __name__ == "__main__":
    main()
