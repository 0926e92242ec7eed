"""A closed-loop load generator: N concurrent clients post for S seconds; counts and latencies.

Run as its own process so that it does not share an event loop with what it measures. A line of the
bodies file is a JSON body, or ``<signature>\t<JSON body>`` for a signed envelope (sent with its
``X-Kruispunt-Signature`` header).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp

from bench_common import post_json

SIGNATURE_HEADER = "X-Kruispunt-Signature"


async def _run(
    url: str, bodies: list[bytes], seconds: float, concurrency: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                body = bodies[i % len(bodies)]
                sent = headers
                if not body.startswith(b"{"):  # "<signature>\t<body>": a signed envelope
                    signature, _, body = body.partition(b"\t")
                    sent = {**(headers or {}), SIGNATURE_HEADER: signature.decode("ascii")}
                i += concurrency
                start = time.perf_counter()
                if not await post_json(session, url, body, statuses, sent):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {
        "requests": len(latencies),
        "elapsed_s": elapsed,
        "msgs_per_s": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": errors,
    }


def main() -> None:
    url, bodies_file, seconds, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    # optional fifth argument: one header "Name: value" sent with every request
    headers = dict([[p.strip() for p in sys.argv[5].split(":", 1)]]) if len(sys.argv) > 5 else None
    with open(bodies_file, "rb") as fh:
        bodies = [line.rstrip(b"\n") for line in fh if line.strip()]
    try:
        import uvloop

        result = uvloop.run(_run(url, bodies, seconds, concurrency, headers))
    except ImportError:
        result = asyncio.run(_run(url, bodies, seconds, concurrency, headers))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
