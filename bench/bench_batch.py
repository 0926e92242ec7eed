"""``kruispunt bench batch``: a batch of N lines through the real hub vs the same lines sent one by one.

Processes (all on 127.0.0.1, SQLite in a temporary folder, output in ``<tmp>/logs``): the National Register
and the bis register seeded with a synthetic nation, and a real hub (`kruispunt serve hub --workers W`) with
the full pipeline. The requester is the demo seed's OCMW Gent; the directory integrates for it (capacity 2,
deliberation 24/001) a set of living residents and every living bis person, so the lines go to two
providers. The batch file (``identify_person``) mixes national-register numbers (~85%), bis numbers
(~14.5%) and ~0.5% bad lines (not JSON, invalid INSZ, schema violation, person not integrated); a third of
the good lines are JSON objects, the rest bare INSZ.

Measured: from the start of the upload until the status says DONE (upload, every line through the
pipeline, results written). Baseline, same run: a sample of the same kind of lines (``min(N, 20,000)``) sent
one by one to ``POST /hub/messages`` by a client process with bounded concurrency. Afterwards the result
file must hold one line per request line and the error report one per bad line, and the log one entry per
line of both phases.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from bench_common import free_port, machine, post_json, print_result, start_service, stop, wait_health

HERE = Path(__file__).resolve().parent
OCMW_GENT = "0212140186"
SEED = 20261128
RESIDENTS = 50_000
HEADER = {
    "customerIdentification": {"cbeNumber": OCMW_GENT},
    "userId": "bench-batch",
    "legalContext": "PCSA:SOCIAL_INQUIRY",
    "messageType": {"name": "identify_person", "version": "1"},
}


def _seed(data_dir: Path, persons: int) -> tuple[list[str], list[str], list[str]]:
    """Seed both registers; integrate residents and bis people for OCMW Gent. Returns (integrated
    national-register numbers, integrated bis numbers, living residents not integrated)."""
    import numpy as np

    from kruispunt.core.db import component_url, make_engine
    from kruispunt.core.migrate import upgrade
    from kruispunt.network import directory
    from kruispunt.network.registry import Registry
    from kruispunt.simulate.population import iter_population
    from kruispunt.sources.seed import seed_sources

    seed_sources(
        nr_url=component_url(None, data_dir, "national_register"),
        bis_url=component_url(None, data_dir, "bis_register"),
        persons=persons,
        seed=SEED,
    )
    residents: list[str] = []
    bis: list[str] = []
    for batch in iter_population(persons, SEED):
        alive = np.isnat(batch.death_date)
        residents.extend(batch.insz[alive & ~batch.is_bis].tolist())
        bis.extend(batch.insz[alive & batch.is_bis].tolist())
    cut = min(RESIDENTS, len(residents) * 4 // 5)
    integrated, outsiders = residents[:cut], residents[cut : cut + 1000]
    hub_url = component_url(None, data_dir, "hub")
    upgrade(hub_url, "hub")
    registry = Registry.load_default()
    gent = registry.institution(OCMW_GENT)
    assert gent is not None
    engine = make_engine(hub_url)
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
    rows = [
        (insz, gent.kbo, gent.sector, gent.institution_type, 2, None, date(2024, 3, 1), None, "SECONDARY")
        for insz in integrated + bis
    ]
    directory.bulk_load(engine, rows)
    engine.dispose()
    return integrated, bis, outsiders


def _lines(count: int, nr: list[str], bis: list[str], outsiders: list[str]) -> tuple[list[bytes], int]:
    """``count`` request lines (deterministic) and how many of them are bad."""
    out: list[bytes] = []
    bad = 0
    for k in range(count):
        if k % 200 == 199:  # 0.5% bad lines, four kinds in turn
            kind = (k // 200) % 4
            bad += 1
            if kind == 0:
                out.append(b"this is not json")
            elif kind == 1:
                out.append(b"12345678901")
            elif kind == 2:
                insz = nr[k % len(nr)]
                out.append(json.dumps({"ssin": insz, "request": {"insz": insz, "bogus": 1}}).encode())
            else:
                out.append(outsiders[k % len(outsiders)].encode())
            continue
        insz = bis[k % len(bis)] if k % 1000 < 145 else nr[(k * 7919) % len(nr)]
        if k % 3 == 0:
            line = {"ssin": insz, "request": {"insz": insz}, "customerTicket": f"l{k}"}
            out.append(json.dumps(line).encode())
        else:
            out.append(insz.encode())
    return out, bad


def _envelope(line: bytes, k: int, now: str) -> bytes:
    """The synchronous ``POST /hub/messages`` body of the same request as a batch line."""
    text = line.decode()
    if text.isdigit():
        ssin, request = text, {"insz": text}
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return line  # not JSON: the same bytes, a malformed message
        ssin, request = doc["ssin"], doc.get("request", {})
    body: dict[str, Any] = {
        "informationCustomer": {
            "ticket": f"sync-{k}",
            "timestampSent": now,
            "customerIdentification": {"cbeNumber": OCMW_GENT},
            "userId": "bench-sync",
        },
        "legalContext": HEADER["legalContext"],
        "messageType": HEADER["messageType"],
        "request": request,
    }
    if ssin is not None:
        body["ssin"] = ssin
    return json.dumps(body).encode()


async def _send_all(url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    """Each body once, ``concurrency`` at a time (keep-alive connections)."""
    import aiohttp

    statuses: dict[int, int] = {}
    errors = 0
    queue = list(reversed(bodies))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while queue:
                if not await post_json(session, url, queue.pop(), statuses):
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"requests": len(bodies), "elapsed_s": elapsed, "statuses": statuses, "errors": errors}


def _baseline(url: str, bodies_file: Path, concurrency: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "sync", url, str(bodies_file), str(concurrency)],
        check=True,
        capture_output=True,
    )
    return dict(json.loads(out.stdout))


def _count_lines(response: httpx.Response) -> int:
    count = 0
    for line in response.iter_lines():
        if line.strip():
            count += 1
    return count


def run(
    *,
    lines: int,
    workers: int = 2,
    persons: int = 100_000,
    baseline_lines: int = 20_000,
    concurrency: int = 64,
    keep: Path | None = None,
) -> dict[str, Any]:
    procs: list[subprocess.Popen[bytes]] = []
    tmp = tempfile.mkdtemp(prefix="kruispunt-bench-batch-") if keep is None else str(keep)
    data_dir = Path(tmp)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        nr, bis, outsiders = _seed(data_dir, persons)
        seeded_s = time.perf_counter() - t0
        request_lines, bad = _lines(lines, nr, bis, outsiders)
        batch_file = data_dir / "batch.jsonl"
        with batch_file.open("wb") as fh:
            fh.write(json.dumps(HEADER).encode() + b"\n")
            fh.write(b"\n".join(request_lines) + b"\n")
        sample = min(lines, baseline_lines)
        now = datetime.now(UTC).isoformat()
        bodies_file = data_dir / "sync_bodies.jsonl"
        with bodies_file.open("wb") as fh:
            for k, line in enumerate(request_lines[:sample]):
                fh.write(_envelope(line, k, now) + b"\n")
        sample_bad = sum(1 for k in range(sample) if k % 200 == 199)

        nr_port, bis_port, hub_port = free_port(), free_port(), free_port()
        urls = {
            "national_register": f"http://127.0.0.1:{nr_port}",
            "bis_register": f"http://127.0.0.1:{bis_port}",
        }
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")},
            "KRUISPUNT_DATA_DIR": str(data_dir),
            "KRUISPUNT_ENDPOINTS": json.dumps(urls),
        }
        for name, port in (("national_register", nr_port), ("bis_register", bis_port), ("hub", hub_port)):
            extra = ["--workers", str(workers)] if name == "hub" else []
            procs.append(start_service(name, port, env, *extra, stdout=(logs / f"{name}.log").open("wb")))
        hub = f"http://127.0.0.1:{hub_port}"
        for url, proc in zip([*urls.values(), hub], procs, strict=True):
            wait_health(url, proc, timeout=120.0)

        # baseline: the synchronous path, one message per request
        base = _baseline(f"{hub}/hub/messages", bodies_file, concurrency)
        base_rate = base["requests"] / base["elapsed_s"]

        # the batch
        identity = {"X-Kruispunt-Cbe-Number": OCMW_GENT}
        started = time.perf_counter()
        with batch_file.open("rb") as fh:
            submitted = httpx.post(
                f"{hub}/hub/batches",
                content=fh,
                headers={"content-type": "application/x-ndjson", **identity},
                timeout=600,
            )
        submitted.raise_for_status()
        upload_s = time.perf_counter() - started
        batch_id = submitted.json()["batchId"]
        status: dict[str, Any] = {}
        while True:
            status = httpx.get(f"{hub}/hub/batches/{batch_id}", headers=identity, timeout=30).json()
            if status["status"] in ("DONE", "FAILED"):
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        with httpx.stream(
            "GET", f"{hub}/hub/batches/{batch_id}/results", headers=identity, timeout=600
        ) as response:
            results = _count_lines(response)
        with httpx.stream(
            "GET", f"{hub}/hub/batches/{batch_id}/errors", headers=identity, timeout=600
        ) as response:
            error_lines = _count_lines(response)
    finally:
        stop(procs, timeout=30)
    log_entries = _log_entries(data_dir)
    if keep is None:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
    rate = lines / seconds if seconds else 0.0
    counts = status.get("counts", {})
    return {
        "lines": lines,
        "seconds": round(seconds, 1),
        "rate_per_s": round(rate, 1),
        "baseline_rate_per_s": round(base_rate, 1),
        "ratio": round(rate / base_rate, 2) if base_rate else 0.0,
        "errors": counts.get("refused"),
        "expected_errors": bad,
        "status": status.get("status"),
        "data_found": counts.get("dataFound"),
        "result_lines": results,
        "error_lines": error_lines,
        "upload_s": round(upload_s, 2),
        "baseline_lines": base["requests"],
        "baseline_seconds": round(base["elapsed_s"], 1),
        "baseline_statuses": base["statuses"],
        "baseline_expected_refused": sample_bad,
        "log_entries": log_entries,
        "log_expected": lines + base["requests"],
        "workers": workers,
        "persons": persons,
        "seed_s": round(seeded_s, 1),
        "machine": {**machine(), "cores": os.cpu_count()},
    }


def _log_entries(data_dir: Path) -> int:
    from sqlalchemy import func, select

    from kruispunt.audit.models import audit_entry
    from kruispunt.core.db import component_url, make_engine

    engine = make_engine(component_url(None, data_dir, "audit"))
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_entry)).scalar_one())
    finally:
        engine.dispose()


def report(result: dict[str, Any], *, as_json: bool) -> None:
    print_result(
        result,
        as_json=as_json,
        summary=(
            f"batch {result['lines']} lines in {result['seconds']} s: {result['rate_per_s']} lines/s "
            f"({result['errors']} refused of {result['expected_errors']} bad); baseline (one by one) "
            f"{result['baseline_rate_per_s']} msg/s; ratio {result['ratio']}; log {result['log_entries']} "
            f"entries (expected {result['log_expected']})"
        ),
    )


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "sync":
    _url, _file, _concurrency = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    _bodies = [line for line in _file.read_bytes().split(b"\n") if line]
    print(json.dumps(asyncio.run(_send_all(_url, _bodies, _concurrency))))
