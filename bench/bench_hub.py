"""``kruispunt bench hub``: the full hub pipeline against a bare pass-through proxy, same load, same run.

Processes (all on 127.0.0.1): a provider stub; (a) a bare proxy that forwards each body to the stub;
(b) a real hub (`kruispunt serve hub`, SQLite in a temporary folder) whose National Register endpoint is
the same stub, with a directory in which the calling OCMW has integrated every benchmark person; and a
load generator process. Each phase runs the same closed-loop load for ``seconds``. Afterwards the hub's
log is verified and must hold one entry per answered request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench_common import free_port, machine, print_result, start_service, stop, wait_health

HERE = Path(__file__).resolve().parent
PERSONS = 5_000


def _prepare_hub(data_dir: Path) -> tuple[str, list[str]]:
    """Migrate the hub DB, seed the registry, integrate the benchmark persons for one OCMW."""
    from kruispunt.core.db import component_url, make_engine
    from kruispunt.core.migrate import upgrade
    from kruispunt.ids import make_insz
    from kruispunt.network import directory
    from kruispunt.network.registry import Registry

    url = component_url(None, data_dir, "hub")
    upgrade(url, "hub")
    registry = Registry.load_default()
    requester = next(i for i in registry.institutions() if i.sector == 17 and i.institution_type == 1)
    start = date(1940, 1, 1)
    inszs = []
    for k in range(PERSONS):
        born = date.fromordinal(start.toordinal() + (k * 7919) % 25_000)
        inszs.append(make_insz(born, 1 + 2 * (k % 400)))
    inszs = sorted(set(inszs))
    engine = make_engine(url)
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
    rows = [
        (
            insz,
            requester.kbo,
            requester.sector,
            requester.institution_type,
            2,
            None,
            date(2020, 1, 1),
            None,
            "SECONDARY",
        )
        for insz in inszs
    ]
    directory.bulk_load(engine, rows)
    engine.dispose()
    return requester.kbo, inszs


def _bodies(path: Path, requester_kbo: str, inszs: list[str]) -> None:
    now = datetime.now(UTC).isoformat()
    with path.open("wb") as fh:
        for k, insz in enumerate(inszs):
            body = {
                "informationCustomer": {
                    "ticket": f"bench-{k}",
                    "timestampSent": now,
                    "customerIdentification": {"cbeNumber": requester_kbo},
                    "userId": "bench-client",
                },
                "legalContext": "PCSA:SOCIAL_INQUIRY",
                "messageType": {"name": "identify_person", "version": "1"},
                "ssin": insz,
                "request": {"insz": insz},
            }
            fh.write(json.dumps(body).encode() + b"\n")


SIGNED_PER_S = 5_000
"""Pre-signed requests per second of a signed slice: more than the signed hub answers here (each is used
once: a second use is a replay, refused, and not counted as an answer)."""


def _signed_bodies(data_dir: Path, bodies: Path, files: dict[Path, int]) -> None:
    """``<signature>\t<body>`` lines, each body signed once by the requesting institution's key."""
    from kruispunt.network import KSZ
    from kruispunt.trust.ca import NetworkCA
    from kruispunt.trust.envelopes import sign

    ca = NetworkCA.open(data_dir / "trust")
    plain = [line for line in bodies.read_bytes().splitlines() if line]
    requester = json.loads(plain[0])["informationCustomer"]["customerIdentification"]["cbeNumber"]
    identity = ca.issue(requester, "benchmark requester")
    ca.save(identity)  # the hub holds every institution's certificate: requests name it by thumbprint
    ca.save(ca.issue(KSZ, "KSZ"))
    for path, count in files.items():
        with path.open("wb") as fh:
            for k in range(count):
                body = plain[k % len(plain)]
                signature = sign(body, identity, method="POST", path="/hub/messages", embed_certificate=False)
                fh.write(signature.encode() + b"\t" + body + b"\n")


def _load(url: str, bodies: Path, seconds: float, concurrency: int) -> dict[str, Any]:
    """Closed-loop load: wrk (C, Debian package) when installed — it leaves the CPU to what is measured —
    else the Python load generator in ``loadgen.py``."""
    if shutil.which("wrk"):
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                str(HERE / "wrk_bodies.lua"),
                url,
                "--",
                str(bodies),
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
            "msgs_per_s": summary["requests"] / elapsed if elapsed else 0.0,
            "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000,
            "statuses": {"non_2xx": summary["non_2xx"]},
            "errors": summary["socket_errors"],
            "generator": "wrk",
        }
    out = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py"), url, str(bodies), str(seconds), str(concurrency)],
        check=True,
        capture_output=True,
    )
    return {**json.loads(out.stdout), "generator": "python"}


ROUNDS = 3
"""Each phase is measured in this many slices, alternated (baseline, hub, signed hub, baseline, …), so a
drift in the machine's load falls on all three alike."""


def _combined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase's slices together: messages over total time; median p50, highest p99."""
    elapsed = sum(p["elapsed_s"] for p in parts)
    refused = sum(
        int(n) for p in parts for code, n in p["statuses"].items() if code == "non_2xx" or code[0] != "2"
    )
    answered = sum(p["requests"] for p in parts) - refused  # only answers count: a refusal is cheaper
    return {
        "msgs_per_s": answered / elapsed if elapsed else 0.0,
        "p50_ms": sorted(p["p50_ms"] for p in parts)[len(parts) // 2],
        "p99_ms": max(p["p99_ms"] for p in parts),
        "non_2xx": refused,
        "errors": sum(p["errors"] for p in parts),
        "generator": parts[0]["generator"],
    }


def run(*, seconds: float, concurrency: int, workers: int = 1) -> dict[str, Any]:
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="kruispunt-bench-") as tmp:
        plain_dir, signed_dir = Path(tmp) / "plain", Path(tmp) / "signed"
        try:
            plain_dir.mkdir()
            signed_dir.mkdir()
            requester_kbo, inszs = _prepare_hub(plain_dir)
            _prepare_hub(signed_dir)
            bodies = plain_dir / "bodies.jsonl"
            _bodies(bodies, requester_kbo, inszs)
            # the signed hub: a network CA, every request signed by its institution (pre-signed, each used
            # once: a second use would be a replay) and verified, every answer signed by the hub
            signed_files = [signed_dir / f"slice-{k}.signed" for k in range(ROUNDS)]
            warm_file = signed_dir / "warm.signed"
            _signed_bodies(
                signed_dir,
                bodies,
                {
                    warm_file: 10_000,
                    **{f: round(SIGNED_PER_S * seconds / ROUNDS) + 1_000 for f in signed_files},
                },
            )
            stub_port, proxy_port, hub_port, signed_port = free_port(), free_port(), free_port(), free_port()
            stub_url = f"http://127.0.0.1:{stub_port}"
            stub = subprocess.Popen([sys.executable, str(HERE / "bench_stub.py"), "stub", str(stub_port)])
            procs.append(stub)
            for _ in range(workers):
                proxy = subprocess.Popen(
                    [sys.executable, str(HERE / "bench_stub.py"), "proxy", str(proxy_port), stub_url]
                )
                procs.append(proxy)
            env = {
                **os.environ,
                "KRUISPUNT_ENDPOINTS": json.dumps({"national_register": stub_url, "bis_register": stub_url}),
            }
            env.pop("KRUISPUNT_DB_URL", None)
            hub = start_service(
                "hub", hub_port, {**env, "KRUISPUNT_DATA_DIR": str(plain_dir)}, "--workers", str(workers)
            )
            procs.append(hub)
            signed_hub = start_service(
                "hub",
                signed_port,
                {**env, "KRUISPUNT_DATA_DIR": str(signed_dir), "KRUISPUNT_SIGNATURES": "required"},
                "--workers",
                str(workers),
            )
            procs.append(signed_hub)
            wait_health(stub_url, stub)
            wait_health(f"http://127.0.0.1:{proxy_port}", proxy)
            wait_health(f"http://127.0.0.1:{hub_port}", hub)
            wait_health(f"http://127.0.0.1:{signed_port}", signed_hub)
            urls = {
                "baseline": f"http://127.0.0.1:{proxy_port}/hub/messages",
                "hub": f"http://127.0.0.1:{hub_port}/hub/messages",
                "signed": f"http://127.0.0.1:{signed_port}/hub/messages",
            }
            warm = min(2.0, seconds / 4)
            _load(urls["baseline"], bodies, warm, concurrency)
            _load(urls["hub"], bodies, warm, concurrency)
            _load(urls["signed"], warm_file, warm, concurrency)
            slices: dict[str, list[dict[str, Any]]] = {"baseline": [], "hub": [], "signed": []}
            part = max(1.0, seconds / ROUNDS)
            for k in range(ROUNDS):
                slices["baseline"].append(_load(urls["baseline"], bodies, part, concurrency))
                slices["hub"].append(_load(urls["hub"], bodies, part, concurrency))
                slices["signed"].append(_load(urls["signed"], signed_files[k], part, concurrency))
        finally:
            stop(procs, timeout=20)
        logs = [_verify_log(d) for d in (plain_dir, signed_dir)]
    baseline, measured, signed = (_combined(slices[k]) for k in ("baseline", "hub", "signed"))
    return {
        "msgs_per_s": round(measured["msgs_per_s"], 1),
        "p50_ms": round(measured["p50_ms"], 2),
        "p99_ms": round(measured["p99_ms"], 2),
        "baseline_msgs_per_s": round(baseline["msgs_per_s"], 1),
        "baseline_p50_ms": round(baseline["p50_ms"], 2),
        "baseline_p99_ms": round(baseline["p99_ms"], 2),
        "ratio": round(measured["msgs_per_s"] / baseline["msgs_per_s"], 3) if baseline["msgs_per_s"] else 0.0,
        "signed_msgs_per_s": round(signed["msgs_per_s"], 1),
        "signed_p50_ms": round(signed["p50_ms"], 2),
        "signed_p99_ms": round(signed["p99_ms"], 2),
        "signed_ratio": round(signed["msgs_per_s"] / measured["msgs_per_s"], 3)
        if measured["msgs_per_s"]
        else 0.0,
        "non_2xx": {
            k: v["non_2xx"] for k, v in (("baseline", baseline), ("hub", measured), ("signed", signed))
        },
        "errors": baseline["errors"] + measured["errors"] + signed["errors"],
        "load_generator": measured["generator"],
        "log_entries": sum(log["checked"] for log in logs),
        "log_intact": all(log["ok"] for log in logs),
        "rounds": ROUNDS,
        "seconds": seconds,
        "concurrency": concurrency,
        "workers": workers,
        "machine": machine(),
    }


def _verify_log(data_dir: Path) -> dict[str, Any]:
    from kruispunt.audit.service import verify
    from kruispunt.core.db import component_url, make_engine

    engine = make_engine(component_url(None, data_dir, "audit"))
    try:
        report = verify(engine)
    finally:
        engine.dispose()
    return {"ok": report.ok, "checked": report.checked}


def report(result: dict[str, Any], *, as_json: bool) -> None:
    print_result(
        result,
        as_json=as_json,
        summary=(
            f"hub {result['msgs_per_s']} msg/s (p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms); "
            f"baseline {result['baseline_msgs_per_s']} msg/s; ratio {result['ratio']}; "
            f"signed {result['signed_msgs_per_s']} msg/s, signed_ratio {result['signed_ratio']}; "
            f"log {result['log_entries']} entries, intact={result['log_intact']}"
        ),
    )
