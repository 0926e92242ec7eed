"""``kruispunt bench declarations``: employer declarations through the real employers service.

1. **Dimona over REST.** The employers service (``kruispunt serve employers``, its own process, SQLite) with a
   repertory of 500 synthetic employers, all of which mandated one social secretariat; a closed-loop load
   (wrk when installed, else ``loadgen.py``) posts Dimona In declarations — each for another worker, so each
   is validated, stored, gets its period id and its outbox row — for ``seconds``. ``dimona_per_s`` counts the
   201 answers per second; the results A/W/B are read back from the database afterwards.
2. **DmfA from a large XML file.** A DmfAOriginal file of ``dmfa_records`` worker records (one employer, one
   quarter, each worker covered by a Dimona period loaded beforehand) is uploaded to ``POST /dmfa/files`` of
   a fresh employers service: streamed to disk, validated against the XSD while it is read, every worker
   record checked (codes, Dimona coverage, contributions recomputed) and stored in one transaction.
   ``dmfa_records_per_s`` = records / upload-to-answer seconds; ``dmfa_peak_rss_mb`` = the service process's
   peak resident memory (VmHWM) over the upload, and its growth beyond the idle service.
   **Baseline** (same file, same run): XSD-only validation, lxml ``iterparse`` with the schema and nothing
   else (``baseline_rate_per_s``); ``ratio`` = ``dmfa_records_per_s`` / baseline.

The delivery of what was accepted to the RSZ source (and from there the directory) is not measured here: it
runs behind the answer, through the outbox, and needs the whole network.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench_common import free_port, machine, print_result, start_service, stop, wait_health

HERE = Path(__file__).resolve().parent
SEED = 20261207
EMPLOYERS = 500
SECRETARIAT = "0400378485"  # a social secretariat (valid KBO) that every employer mandated


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    env["KRUISPUNT_DATA_DIR"] = str(data_dir)
    env["KRUISPUNT_MAX_BODY_BYTES"] = str(64 * 1024)
    return env


def _prepare(data_dir: Path, *, dmfa_workers: list[str] | None = None) -> dict[str, Any]:
    """Migrate the employers database, load the repertory and the mandates (and Dimona periods for the
    DmfA workers); returns the employers."""
    from sqlalchemy import insert

    from kruispunt.core.db import component_url, make_engine
    from kruispunt.core.migrate import upgrade
    from kruispunt.employers import SERVICE, service
    from kruispunt.employers.models import dimona_period_table
    from kruispunt.employers.seed import GENERAL_CATEGORY
    from kruispunt.ids import make_dimona_period_id
    from kruispunt.simulate.employers import generate_employers

    url = component_url(None, data_dir, SERVICE)
    upgrade(url, SERVICE)
    engine = make_engine(url)
    employers = list(generate_employers(SEED, EMPLOYERS).records())
    since = dt.date(2000, 1, 1)
    with engine.begin() as conn:
        service.add_employers(
            conn,
            [
                {
                    "kbo": e["kbo"],
                    "rsz": e["rsz"],
                    "name": e["name"],
                    "category": GENERAL_CATEGORY,
                    "joint_committee": e["joint_committee"],
                    "nace": None,
                    "since": since,
                }
                for e in employers
            ],
        )
        for e in employers:
            service.grant_mandate(
                conn, employer_kbo=e["kbo"], declarant_kbo=SECRETARIAT, role=11, start=since, end=None
            )
        if dmfa_workers:
            now = service.utc_now()
            rows = [
                {
                    "id": make_dimona_period_id(2_000_000_000 + k),
                    "employer_kbo": employers[0]["kbo"],
                    "insz": insz,
                    "worker_type": "OTH",
                    "joint_committee": "XXX",
                    "start": dt.date(2020, 1, 1),
                    "end": None,
                    "start_hour": None,
                    "end_hour": None,
                    "planned_hours": None,
                    "cancelled": False,
                    "locked": False,
                    "version": 1,
                    "updated_at": now,
                }
                for k, insz in enumerate(dmfa_workers)
            ]
            for i in range(0, len(rows), 10_000):
                conn.execute(insert(dimona_period_table), rows[i : i + 10_000])
    engine.dispose()
    return {"employers": employers, "url": url}


def _workers(count: int, *, adults: bool = False) -> list[str]:
    """``count`` INSZ numbers of the synthetic population; ``adults``: only people of working age alive
    (a Dimona for a child or the deceased is refused — processed as well, but not what an employer sends)."""
    from kruispunt.simulate.population import generate_population

    if not adults:
        return [str(x) for x in generate_population(count, SEED).insz.tolist()]
    year = dt.date.today().year
    chosen: list[str] = []
    size = count
    while len(chosen) < count:
        size *= 2
        chosen = [
            str(p["insz"])
            for p in generate_population(size, SEED).records()
            if not p["is_bis"] and p["death_date"] is None and 18 <= year - int(p["birth_year"]) <= 64
        ]
    return chosen[:count]


def _dimona_bodies(path: Path, employers: list[dict[str, Any]], workers: list[str]) -> None:
    start = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with path.open("w") as fh:
        for k, insz in enumerate(workers):
            employer = employers[k % len(employers)]
            body = {
                "employer": {"enterpriseNumber": employer["kbo"]},
                "worker": {"ssin": insz},
                "dimonaIn": {
                    "startDate": start,
                    "features": {"jointCommissionNumber": "XXX", "workerType": "OTH"},
                },
            }
            fh.write(json.dumps(body, separators=(",", ":")) + "\n")


def _load(url: str, bodies: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    if shutil.which("wrk"):
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                str(HERE / "wrk_declarations.lua"),
                url,
                "--",
                str(bodies),
                SECRETARIAT,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        elapsed = summary["elapsed_us"] / 1e6
        return {
            "requests": summary["requests"],
            "elapsed_s": elapsed,
            "per_s": summary["requests"] / elapsed if elapsed else 0.0,
            "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000,
            "non_2xx": summary["non_2xx"],
            "errors": summary["socket_errors"],
            "generator": "wrk",
        }
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "loadgen.py"),
            url,
            str(bodies),
            str(seconds),
            str(concurrency),
            f"X-Kruispunt-Declarant: {SECRETARIAT}",
        ],
        check=True,
        capture_output=True,
    )
    result = json.loads(out.stdout)
    return {
        "requests": result["requests"],
        "elapsed_s": result["elapsed_s"],
        "per_s": result["msgs_per_s"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "non_2xx": sum(v for k, v in result["statuses"].items() if not k.startswith("2")),
        "errors": result["errors"],
        "generator": "python",
    }


def _results(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from kruispunt.core.db import make_engine
    from kruispunt.employers.models import declaration_table, outbox_table

    engine = make_engine(url)
    with engine.connect() as conn:
        d = declaration_table.c
        counts = {str(r): int(n) for r, n in conn.execute(select(d.result, func.count()).group_by(d.result))}
        counts["outbox"] = int(conn.execute(select(func.count()).select_from(outbox_table)).scalar_one())
    engine.dispose()
    return counts


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _dimona_phase(root: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    data_dir = root / "dimona"
    data_dir.mkdir()
    prepared = _prepare(data_dir)
    # each request hires another worker: the warm-up's workers are not those of the measured load
    warm, bodies = root / "dimona-warm-up.jsonl", root / "dimona.jsonl"
    workers = _workers(3_000 + max(20_000, int(seconds * 6_000)), adults=True)
    _dimona_bodies(warm, prepared["employers"], workers[:3_000])
    _dimona_bodies(bodies, prepared["employers"], workers[3_000:])
    port = free_port()
    log = (root / "employers-dimona.log").open("wb")
    proc = start_service("employers", port, _env(data_dir), stdout=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_health(url, proc)
        if "/declarations" not in httpx.get(f"{url}/openapi.json", timeout=10).json().get("paths", {}):
            return {
                "per_s": None,
                "p50_ms": None,
                "p99_ms": None,
                "requests": 0,
                "non_2xx": 0,
                "generator": None,
                "results": {},
                "missing": "this employers service has no Dimona REST route",
            }
        _load(f"{url}/declarations", warm, 1.0, concurrency)  # warm-up (its declarations are in the results)
        load = _load(f"{url}/declarations", bodies, seconds, concurrency)
    finally:
        stop([proc], timeout=15)
        log.close()
    return {**load, "results": _results(prepared["url"])}


def _dmfa_file(path: Path, employer: dict[str, Any], workers: list[str], quarter: int) -> int:
    from kruispunt.employers import dmfa_xml

    with path.open("wb") as fh:
        return dmfa_xml.write_sample(fh, employer=employer, workers=workers, quarter=quarter)


def _baseline(path: Path) -> dict[str, Any]:
    """XSD-only validation of the same file: lxml iterparse with the schema, each record freed."""
    from kruispunt.employers import xmlsafe

    started = time.perf_counter()
    records = 0
    with path.open("rb") as fh:
        for _ in xmlsafe.iter_elements(fh, "WorkerRecord", schema_name="dmfa"):
            records += 1
    elapsed = time.perf_counter() - started
    return {"records": records, "seconds": elapsed, "per_s": records / elapsed if elapsed else 0.0}


def _last_closed_quarter() -> int:
    today = dt.date.today()
    q = (today.month - 1) // 3 + 1
    year, q = (today.year, q - 1) if q > 1 else (today.year - 1, 4)
    return year * 10 + q


def _dmfa_phase(root: Path, records: int) -> dict[str, Any]:
    data_dir = root / "dmfa"
    data_dir.mkdir()
    workers = _workers(records)
    prepared = _prepare(data_dir, dmfa_workers=workers)
    employer = prepared["employers"][0]
    path = root / "dmfa.xml"
    written = _dmfa_file(path, employer, workers, _last_closed_quarter())
    size_mb = path.stat().st_size / 1e6
    baseline = _baseline(path)
    port = free_port()
    log = (root / "employers-dmfa.log").open("wb")
    proc = start_service("employers", port, _env(data_dir), stdout=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_health(url, proc)
        idle_kb = _rss_kb(proc.pid, "VmHWM")
        started = time.perf_counter()
        with path.open("rb") as fh, httpx.Client(timeout=600) as client:
            response = client.post(
                f"{url}/dmfa/files",
                content=fh,
                headers={"content-type": "application/xml", "x-kruispunt-declarant": SECRETARIAT},
            )
        elapsed = time.perf_counter() - started
        peak_kb = _rss_kb(proc.pid, "VmHWM")
        answer = response.json()
    finally:
        stop([proc], timeout=30)
        log.close()
    if response.status_code >= 300:
        raise RuntimeError(f"DmfA upload refused: HTTP {response.status_code} {str(answer)[:500]}")
    results = [d.get("result") for d in answer.get("declarations", [])]
    return {
        "records": written,
        "file_mb": round(size_mb, 1),
        "seconds": elapsed,
        "per_s": written / elapsed if elapsed else 0.0,
        "peak_rss_mb": peak_kb / 1024,
        "idle_rss_mb": idle_kb / 1024,
        "results": results,
        "baseline": baseline,
        "stored": _results(prepared["url"]),
    }


def run(*, seconds: float, concurrency: int, dmfa_records: int, keep: Path | None = None) -> dict[str, Any]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return _run_in(keep, seconds=seconds, concurrency=concurrency, dmfa_records=dmfa_records)
    with tempfile.TemporaryDirectory(prefix="kruispunt-bench-decl-") as tmp:
        return _run_in(Path(tmp), seconds=seconds, concurrency=concurrency, dmfa_records=dmfa_records)


def _run_in(root: Path, *, seconds: float, concurrency: int, dmfa_records: int) -> dict[str, Any]:
    dimona = _dimona_phase(root, seconds, concurrency)
    dmfa = _dmfa_phase(root, dmfa_records)
    baseline = dmfa["baseline"]["per_s"]
    return {
        "bench": "declarations",
        "dimona_per_s": _round(dimona["per_s"], 1),
        "dimona_p50_ms": _round(dimona["p50_ms"], 2),
        "dimona_p99_ms": _round(dimona["p99_ms"], 2),
        "dimona_requests": dimona["requests"],
        "dimona_non_2xx": dimona["non_2xx"],
        "dimona_results": dimona["results"],
        "dimona_missing": dimona.get("missing"),
        "dmfa_records": dmfa["records"],
        "dmfa_file_mb": dmfa["file_mb"],
        "dmfa_seconds": round(dmfa["seconds"], 2),
        "dmfa_records_per_s": round(dmfa["per_s"], 1),
        "dmfa_peak_rss_mb": round(dmfa["peak_rss_mb"], 1),
        "dmfa_idle_rss_mb": round(dmfa["idle_rss_mb"], 1),
        "dmfa_results": dmfa["results"],
        "baseline_rate_per_s": round(baseline, 1),
        "baseline_seconds": round(dmfa["baseline"]["seconds"], 2),
        "ratio": round(dmfa["per_s"] / baseline, 3) if baseline else None,
        "generator": dimona["generator"],
        "concurrency": concurrency,
        "machine": machine(),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def report(result: dict[str, Any], *, as_json: bool) -> None:
    print_result(
        result,
        as_json=as_json,
        summary=(
            f"Dimona: {result['dimona_per_s']} declarations/s (p99 {result['dimona_p99_ms']} ms); "
            f"DmfA: {result['dmfa_records']} worker records in {result['dmfa_seconds']:.1f} s "
            f"({result['dmfa_records_per_s']:.0f}/s, peak RSS {result['dmfa_peak_rss_mb']:.0f} MB); "
            f"XSD-only baseline {result['baseline_rate_per_s']:.0f}/s; ratio {result['ratio']}"
        ),
    )
