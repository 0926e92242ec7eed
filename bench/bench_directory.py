"""``kruispunt bench directory``: bulk-load N people with ~5 directory lines each, then time lookups.

The people are the synthetic nation's (``kruispunt.simulate``); each gets five lines at institutions drawn
from the demo registry with a capacity of that sector. Measured in the same run:

* ``load_lines_per_s`` — :func:`kruispunt.network.directory.bulk_load` into the migrated persons directory
  (indexes included, built at the end for a large first load);
* ``baseline_load_lines_per_s`` — the database driver's own ``executemany`` of the same rows into a bare
  table with no index (the floor any loader pays), and ``load_ratio`` = ours / baseline;
* ``lookup_p50_ms`` / ``lookup_p99_ms`` — the hub's per-message read (:class:`directory.DirectoryReader`)
  for random people, each call timed on its own, with the pages they need cached (second pass);
  ``lookup_cold_*`` — the first pass over the same people, straight after the load.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bench_common import machine, print_result

LINES_PER_PERSON = 5
LOOKUPS = 20_000
BASELINE_ROWS = 1_000_000
START = date(2020, 1, 1)


def _institution_pool() -> list[tuple[str, int, int, int, str]]:
    """(kbo, sector, type, capacity, register): each demo institution with capacities of its sector."""
    from kruispunt.network.registry import Registry

    registry = Registry.load_default()
    pool = []
    for inst in registry.institutions():
        codes = [c.code for c in registry.capacities() if c.sector == inst.sector] or [0]
        register = "PRIMARY" if inst.institution_type == 0 else "SECONDARY"
        pool.extend((inst.kbo, inst.sector, inst.institution_type, code, register) for code in codes[:3])
    return pool


def _rows(persons: int, seed: int, pool: list[tuple[str, int, int, int, str]]) -> Iterator[tuple[Any, ...]]:
    from kruispunt.simulate.population import iter_identities

    rng = np.random.default_rng(seed)
    for batch in iter_identities(persons, seed):
        picks = rng.integers(0, len(pool), size=(len(batch), LINES_PER_PERSON))
        for insz, choice in zip(batch.insz.tolist(), picks.tolist(), strict=True):
            for k in dict.fromkeys(choice):  # distinct institutions/capacities per person
                kbo, sector, itype, capacity, register = pool[k]
                yield (insz, kbo, sector, itype, capacity, None, START, None, register)


def _baseline(url: str, pool: list[tuple[str, int, int, int, str]], persons: int, seed: int) -> float:
    """Raw driver executemany of the first BASELINE_ROWS rows into an unindexed table."""
    from sqlalchemy import text

    from kruispunt.core.db import make_engine

    engine = make_engine(url)
    rows = []
    for row in _rows(persons, seed, pool):
        rows.append(row)
        if len(rows) >= min(BASELINE_ROWS, persons * LINES_PER_PERSON):
            break
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_baseline"))
        conn.execute(
            text(
                "CREATE TABLE bench_baseline (insz VARCHAR(11), institution VARCHAR(10), sector INTEGER, "
                'institution_type INTEGER, capacity INTEGER, phase INTEGER, start DATE, "end" DATE, '
                "register VARCHAR(9))"
            )
        )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        placeholder = "?" if engine.dialect.name == "sqlite" else "%s"
        sql = f"INSERT INTO bench_baseline VALUES ({', '.join([placeholder] * 9)})"  # noqa: S608 (constants only)
        started = time.perf_counter()
        for i in range(0, len(rows), 50_000):
            cursor.executemany(sql, rows[i : i + 50_000])
            raw.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_baseline")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return len(rows) / elapsed


def run(*, persons: int, db: str | None, seed: int = 7) -> dict[str, Any]:
    from kruispunt.core.db import component_url, drop_database, make_engine
    from kruispunt.core.migrate import upgrade
    from kruispunt.network import directory

    pool = _institution_pool()
    with tempfile.TemporaryDirectory(prefix="kruispunt-bench-dir-") as tmp:
        base = db.rsplit("/", 1)[0] + "/kruispunt_bench" if db else None
        url = component_url(base, Path(tmp), "directory")
        drop_database(url)
        upgrade(url, "hub")
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            lines = directory.bulk_load(engine, _rows(persons, seed, pool))
            load_s = time.perf_counter() - started
            from kruispunt.simulate.population import sample_inszs

            inszs = sample_inszs(persons, seed, min(LOOKUPS, persons))
            kbos = [p[0] for p in pool]
            reader = directory.DirectoryReader(engine)
            passes: list[list[float]] = []
            for _ in range(2):  # first pass: pages cold; second: the same people again, pages cached
                timings = []
                for k, insz in enumerate(inszs):
                    kbo = kbos[k % len(kbos)]
                    t0 = time.perf_counter()
                    reader.lookup(
                        insz=insz, institution_kbo=kbo, capacities=(1, 2, 10, 30), institutions=kbos, on=START
                    )
                    timings.append(time.perf_counter() - t0)
                passes.append(sorted(timings))
            reader.close()
        finally:
            engine.dispose()
        baseline = _baseline(url, pool, persons, seed)
        drop_database(url)
    cold, warm = passes

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(len(values) * p))] * 1000, 4)

    return {
        "persons": persons,
        "lines": lines,
        "load_seconds": round(load_s, 1),
        "load_lines_per_s": round(lines / load_s),
        "baseline_load_lines_per_s": round(baseline),
        "load_ratio": round(lines / load_s / baseline, 3),
        "lookups": len(cold),
        "lookup_p50_ms": pct(warm, 0.50),
        "lookup_p99_ms": pct(warm, 0.99),
        "lookup_cold_p50_ms": pct(cold, 0.50),
        "lookup_cold_p99_ms": pct(cold, 0.99),
        "backend": "postgresql" if db else "sqlite",
        "machine": machine(),
    }


def report(result: dict[str, Any], *, as_json: bool) -> None:
    print_result(
        result,
        as_json=as_json,
        summary=(
            f"{result['persons']} persons, {result['lines']} lines loaded at {result['load_lines_per_s']} "
            f"lines/s (baseline {result['baseline_load_lines_per_s']}, ratio {result['load_ratio']}); "
            f"lookup p50 {result['lookup_p50_ms']} ms, p99 {result['lookup_p99_ms']} ms"
        ),
    )
