"""``kruispunt bench warehouse --persons N``: coding, snapshot and the five applications' tables for N people
and 4 quarters, against a plain DuckDB group-by of the same data in the same run.

Set-up (not timed, cached per size and seed under ``--cache``): the synthetic nation's raw quarterly extracts,
the rows every source would send through the hub (``kruispunt.warehouse.extract``: the same functions the
sources' ``/warehouse/extract`` routes use), as Parquet.

Timed, in a fresh process (so ``peak_rss_mb`` is that of the work measured):

1. **coding** — every distinct INSZ coded at the trusted third party (HMAC per project, links kept in its
   own SQLite database), then every extract's INSZ and household number replaced (``kruispunt.coding.arrow``)
   and the coded extracts written where the warehouse keeps them;
2. **snapshot** — the person-quarter table of each quarter (socio-economic position on the last day);
3. **tables** — the five applications' tables over the 4 quarters, disclosure control, published.

The baseline: DuckDB counting the same coded rows with one plain GROUP BY per extract (persons by quarter,
municipality, sex; files by quarter, kind). ``ratio`` = baseline_seconds / seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import machine

SEED = 20261128


def _quarters() -> list[str]:
    from kruispunt.simulate import REFERENCE_DATE
    from kruispunt.warehouse.extract import quarters_before

    return quarters_before(REFERENCE_DATE, 4)


def _generate(raw: Path, persons: int, seed: int) -> None:
    """The synthetic nation's raw extracts: ``raw/quarter=Q/{persons,files,employers}/part-k.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kruispunt.simulate import iter_lives
    from kruispunt.warehouse import extract

    quarters = _quarters()
    staging = raw.with_name(raw.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for q in quarters:
        for name in ("persons", "files"):
            (staging / f"quarter={q}" / name).mkdir(parents=True)
    for k, (people, files) in enumerate(iter_lives(persons, seed)):
        for q in quarters:
            folder = staging / f"quarter={q}"
            pq.write_table(extract.persons_of_batch(people, q), folder / "persons" / f"part-{k:04d}.parquet")
            pq.write_table(extract.files_of_batch(files, q), folder / "files" / f"part-{k:04d}.parquet")
    for q in quarters:
        folder = staging / f"quarter={q}"
        dimona = pq.read_table(folder / "files", filters=[("kind", "=", "dimona_period")])
        employers = extract.employers_of_files(dimona, q)
        (folder / "employers").mkdir()
        pq.write_table(employers, folder / "employers" / "part-0000.parquet")
        del dimona
    pa.default_memory_pool().release_unused()
    shutil.rmtree(raw, ignore_errors=True)
    staging.rename(raw)


def _code(raw: Path, work: Path) -> int:
    """Code every INSZ at the TTP and write the coded extracts; returns the number of people coded."""
    import duckdb
    import pyarrow as pa
    from sqlalchemy import create_engine

    from kruispunt.coding import service as coding
    from kruispunt.coding.arrow import code_parquet
    from kruispunt.core.migrate import upgrade
    from kruispunt.warehouse import service
    from kruispunt.warehouse.schemas import PROJECT

    url = f"sqlite:///{work / 'coding.sqlite'}"
    upgrade(url, "coding")
    engine = create_engine(url)
    con = duckdb.connect(config={"memory_limit": service.MEMORY_LIMIT})
    inszs = (
        con.sql(
            "SELECT DISTINCT insz FROM read_parquet($path, union_by_name = true) WHERE insz IS NOT NULL",
            params={"path": f"{raw}/*/*/*.parquet"},
        )
        .to_arrow_table()["insz"]
        .combine_chunks()
        .cast(pa.string())
    )
    con.close()
    with engine.begin() as conn:
        coding.create_project(conn, project=PROJECT, purpose="data warehouse (benchmark)")
        codes = pa.array(coding.code_many(conn, project=PROJECT, inszs=inszs), pa.string())
    engine.dispose()
    folders = service.Folders(work / "warehouse")
    for quarter_dir in sorted(raw.iterdir()):
        quarter = quarter_dir.name.removeprefix("quarter=")

        def fill(staging: Path, source: Path = quarter_dir) -> None:
            for name in ("persons", "files", "employers"):
                code_parquet(source / name / "*.parquet", staging / f"{name}.parquet", inszs, codes)

        service.replace_quarter(folders, quarter, fill)
    return len(inszs)


def _measured(raw: str, work: str, queue: Any) -> None:
    """The timed part, in its own process."""
    import duckdb

    from kruispunt.warehouse import service

    raw_dir, work_dir = Path(raw), Path(work)
    folders = service.Folders(work_dir / "warehouse")
    t0 = time.perf_counter()
    coded = _code(raw_dir, work_dir)
    t1 = time.perf_counter()
    metas = service.refresh(folders)
    t2 = time.perf_counter()
    con = duckdb.connect()
    b0 = time.perf_counter()
    ext = folders.extracts
    con.execute(
        "SELECT quarter, nis_code, sex, count(*) FROM read_parquet($p, hive_partitioning = 1) GROUP BY ALL",
        {"p": f"{ext}/*/persons.parquet"},
    ).fetchall()
    con.execute(
        "SELECT quarter, kind, count(*) FROM read_parquet($p, hive_partitioning = true) GROUP BY ALL",
        {"p": f"{ext}/*/files.parquet"},
    ).fetchall()
    b1 = time.perf_counter()
    rows = con.execute(
        "SELECT count(*) FROM read_parquet($p, hive_partitioning = true)",
        {"p": f"{folders.snapshot}/*/*.parquet"},
    ).fetchone()
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "coded_persons": coded,
            "snapshot_rows": rows[0] if rows else 0,
            "tables": len(metas),
            "coding_seconds": round(t1 - t0, 2),
            "snapshot_and_tables_seconds": round(t2 - t1, 2),
            "seconds": round(t2 - t0, 2),
            "baseline_seconds": round(b1 - b0, 3),
            "peak_rss_mb": round(peak, 1),
        }
    )


def run(
    *, persons: int, seed: int = SEED, cache: Path | None = None, keep: Path | None = None
) -> dict[str, Any]:
    cache_root = cache or Path(tempfile.gettempdir()) / "kruispunt-bench-warehouse"
    raw = cache_root / f"raw-{persons}-{seed}"
    generated = 0.0
    if not raw.is_dir():
        g0 = time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_generate, args=(raw, persons, seed))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"generating the raw extracts failed (exit {proc.exitcode})")
        generated = time.perf_counter() - g0
    work = keep or Path(tempfile.mkdtemp(prefix="kp-bench-wh-"))
    shutil.rmtree(work / "warehouse", ignore_errors=True)
    (work / "coding.sqlite").unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measured, args=(str(raw), str(work), queue))
    proc.start()
    result = queue.get()
    proc.join()
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    seconds = result["seconds"]
    return {
        "persons": persons,
        "quarters": len(_quarters()),
        **result,
        "ratio": round(result["baseline_seconds"] / seconds, 5) if seconds else None,
        "generate_seconds": round(generated, 1),
        "date": dt.date.today().isoformat(),
        "machine": machine(),
    }


def report(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, separators=(",", ":")))
        return
    print(
        f"{result['persons']} persons x {result['quarters']} quarters: {result['seconds']} s "
        f"(coding {result['coding_seconds']} s), peak {result['peak_rss_mb']} MB; "
        f"baseline group-by {result['baseline_seconds']} s, ratio {result['ratio']}"
    )
