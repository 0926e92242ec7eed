"""``kruispunt bench mutations --changes N``: fan-out of N status changes to their subscribers, per transport.

Set-up: a persons directory of ``persons`` people, each integrated by an OCMW (leefloon, capacity 2) and a
mutuality (capacity 1); the RVA publishes N unemployment changes (``status.opened`` / ``status.amended``,
cycling over the people). Each change reaches three recipients under the subscriptions: the OCMW and the
mutuality (24/104) and the KSZ's derived-rights engine (24/102). The mutations service runs as its own
process (``kruispunt serve mutations``, SQLite) on the transport measured; the source posts batches of
``batch`` changes, two in flight; three pull recipients (asyncio tasks of this process, over HTTP) read
their feeds, acknowledge, and count every key they see.

Per transport, one JSON line: ``changes``, ``deliveries`` (seen by recipients), ``rate_per_s`` (deliveries
per second from the first publish to the last delivery read), ``lag_p99_ms`` (publish of a change's batch →
read by a recipient), ``lost`` (expected deliveries never seen), ``duplicates`` (a key seen twice — the
recipient would skip it; counted to show at-least-once at work), and the **baseline**: the raw transport on
the same machine in the same run, with no network logic — for the database, an ``executemany`` of the same
number of delivery rows and reading them back in pages; for NATS, publishing the same number of messages to
JetStream (acknowledged) and consuming them — ``baseline_rate_per_s`` and ``ratio`` = rate / baseline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

from bench_common import free_port, machine, start_service, stop, wait_health

RVA = "0206737484"
OCMW = "0212140186"
CM = "0411702543"
KSZ = "0244640631"
RECIPIENTS = (OCMW, CM, KSZ)
NATS_URL = os.environ.get("KRUISPUNT_NATS_URL", "nats://127.0.0.1:4222")


def _people(count: int) -> list[str]:
    from kruispunt.ids import make_insz

    return [
        make_insz(dt.date(1950, 1, 1) + dt.timedelta(days=i % 20_000), 1 + i // 20_000) for i in range(count)
    ]


def _prepare(data_dir: Path, inszs: list[str]) -> None:
    from kruispunt.core.db import component_url, make_engine
    from kruispunt.core.migrate import upgrade
    from kruispunt.network.directory import bulk_load

    url = component_url(None, data_dir, "hub")
    upgrade(url, "hub")
    engine = make_engine(url)
    start = dt.date(2020, 1, 1)
    bulk_load(
        engine,
        (
            row
            for i in inszs
            for row in (
                (i, OCMW, 17, 1, 2, None, start, None, "PRIMARY"),
                (i, CM, 11, 1, 1, None, start, None, "PRIMARY"),
            )
        ),
    )
    engine.dispose()


def _batch_body(first: int, count: int, inszs: list[str]) -> bytes:
    changes = [
        {
            "change_id": f"b-{n}",
            "source": RVA,
            "type": "status.opened" if (n // len(inszs)) % 2 == 0 else "status.amended",
            "insz": inszs[n % len(inszs)],
            "effective": "2026-10-01",
            "data": {"kind": "unemployment", "file_key": f"u-{n % len(inszs)}", "start": "2026-10-01"},
        }
        for n in range(first, first + count)
    ]
    return orjson.dumps({"changes": changes})


async def _publish(url: str, changes: int, batch: int, inszs: list[str], sent_at: np.ndarray) -> None:
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    for first in range(0, changes, batch):
        queue.put_nowait(first)

    async def sender(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                first = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            assert first is not None
            count = min(batch, changes - first)
            body = _batch_body(first, count, inszs)
            while True:
                sent_at[first : first + count] = time.monotonic()
                try:
                    async with session.post(
                        f"{url}/mutations/changes",
                        data=body,
                        headers={"content-type": "application/json", "X-Kruispunt-Institution": RVA},
                    ) as response:
                        await response.read()
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(sender(session), sender(session))


async def _consume(
    url: str,
    recipient: str,
    seen: np.ndarray,
    lags: list[float],
    sent_at: np.ndarray,
    expected: int,
    done: list[float],
) -> None:
    got = 0
    timeout = aiohttp.ClientTimeout(total=120)
    headers = {"X-Kruispunt-Institution": recipient}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while got < expected:
            async with session.get(
                f"{url}/mutations/feed/{recipient}", params={"limit": "5000", "wait_s": "1"}, headers=headers
            ) as response:
                body = orjson.loads(await response.read())
            deliveries = body["deliveries"]
            if not deliveries:
                continue
            now = time.monotonic()
            for d in deliveries:
                n = int(d["change"]["change_id"][2:])
                seen[n] += 1
                if seen[n] == 1:
                    got += 1
                    if n % 50 == 0:
                        lags.append(now - float(sent_at[n]))
            async with session.post(
                f"{url}/mutations/feed/{recipient}/ack", json={"cursor": body["next"]}, headers=headers
            ) as ack:
                await ack.read()
    done.append(time.monotonic())


async def _network_run(url: str, changes: int, batch: int, inszs: list[str]) -> dict[str, Any]:
    sent_at = np.zeros(changes, dtype=np.float64)
    seen = {r: np.zeros(changes, dtype=np.uint16) for r in RECIPIENTS}
    lags: list[float] = []
    done: list[float] = []
    started = time.monotonic()
    consumers = [
        asyncio.create_task(_consume(url, r, seen[r], lags, sent_at, changes, done)) for r in RECIPIENTS
    ]
    await _publish(url, changes, batch, inszs, sent_at)
    published = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*consumers), timeout=max(300.0, changes / 1000))
    finished = max(done)
    deliveries = sum(int(np.count_nonzero(s)) for s in seen.values())
    return {
        "changes": changes,
        "deliveries": deliveries,
        "expected": changes * len(RECIPIENTS),
        "seconds": finished - started,
        "publish_seconds": published - started,
        "rate_per_s": deliveries / (finished - started),
        "lag_p50_ms": float(np.percentile(lags, 50) * 1000) if lags else None,
        "lag_p99_ms": float(np.percentile(lags, 99) * 1000) if lags else None,
        "lost": sum(int(np.count_nonzero(s == 0)) for s in seen.values()),
        "duplicates": sum(int(np.sum(s[s > 1] - 1)) for s in seen.values()),
    }


def _baseline_database(root: Path, deliveries: int) -> dict[str, Any]:
    """The raw database transport: the same number of delivery-sized rows written and read back in pages."""
    import sqlite3

    path = root / "baseline.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE d (id INTEGER PRIMARY KEY, recipient TEXT, key TEXT, body TEXT)")
    conn.execute("CREATE INDEX ix ON d (recipient, id)")
    body = orjson.dumps(
        {"change_id": "b-0", "source": RVA, "type": "status.opened", "insz": "0" * 11}
    ).decode()
    started = time.monotonic()
    chunk = 50_000
    for first in range(0, deliveries, chunk):
        rows = [
            (RECIPIENTS[i % 3], f"{i}:{RECIPIENTS[i % 3]}", body)
            for i in range(first, min(deliveries, first + chunk))
        ]
        conn.executemany("INSERT INTO d (recipient, key, body) VALUES (?, ?, ?)", rows)
        conn.commit()
    read = 0
    for recipient in RECIPIENTS:
        after = 0
        while True:
            page = conn.execute(
                "SELECT id, key, body FROM d WHERE recipient = ? AND id > ? ORDER BY id LIMIT 5000",
                (recipient, after),
            ).fetchall()
            if not page:
                break
            read += len([orjson.loads(b) for _, _, b in page])
            after = page[-1][0]
    elapsed = time.monotonic() - started
    conn.close()
    return {"deliveries": read, "seconds": elapsed, "rate_per_s": read / elapsed}


async def _baseline_nats(deliveries: int) -> dict[str, Any]:
    """The raw NATS transport: the same number of deliveries published to JetStream (acknowledged), packed
    per recipient into messages of the relay's size, then consumed and parsed."""
    import nats
    from nats.js import api

    from kruispunt.mutations.nats_transport import MESSAGE_BYTES

    stream = f"KPBASE_{uuid.uuid4().hex[:8].upper()}"
    subject = f"kpbase.{stream.lower()}"
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream(publish_async_max_pending=20_000)
    await js.add_stream(name=stream, subjects=[f"{subject}.>"])
    one = orjson.dumps({"change_id": "b-0", "source": RVA, "type": "status.opened", "insz": "0" * 11})
    per_message = max(1, MESSAGE_BYTES // (len(one) + 1))
    try:
        started = time.monotonic()
        acks = []
        for recipient in RECIPIENTS:
            mine = len(range(RECIPIENTS.index(recipient), deliveries, 3))
            for first in range(0, mine, per_message):
                count = min(per_message, mine - first)
                body = b"[" + b",".join([one] * count) + b"]"
                acks.append(await js.publish_async(f"{subject}.{recipient}", body))
        await asyncio.gather(*acks)
        read = 0
        for recipient in RECIPIENTS:
            # read as the transport reads: no acks (a recipient's position is kept by the network)
            config = api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, mem_storage=True)
            sub = await js.pull_subscribe(f"{subject}.{recipient}", stream=stream, config=config)
            expected = len(range(RECIPIENTS.index(recipient), deliveries, 3))
            got = 0
            while got < expected:
                for m in await sub.fetch(batch=4, timeout=5):
                    got += len(orjson.loads(m.data))
            read += got
        elapsed = time.monotonic() - started
    finally:
        await js.delete_stream(stream)
        await nc.close()
    return {"deliveries": read, "seconds": elapsed, "rate_per_s": read / elapsed}


def _run_transport(root: Path, transport: str, changes: int, persons: int, batch: int) -> dict[str, Any]:
    data_dir = root / transport
    data_dir.mkdir()
    inszs = _people(persons)
    _prepare(data_dir, inszs)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    stream = f"KPBENCH_{uuid.uuid4().hex[:8].upper()}"
    env.update(
        KRUISPUNT_DATA_DIR=str(data_dir),
        KRUISPUNT_MUTATIONS_TRANSPORT=transport,
        KRUISPUNT_NATS_URL=NATS_URL,
        KRUISPUNT_NATS_STREAM=stream,
        KRUISPUNT_MAX_BODY_BYTES=str(1 << 20),
    )
    log = (root / f"mutations-{transport}.log").open("wb")
    proc = start_service("mutations", port, env, stdout=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url, proc)
        result = asyncio.run(_network_run(url, changes, batch, inszs))
    finally:
        stop([proc], timeout=30)
        log.close()
        if transport == "nats":
            asyncio.run(_drop(stream))
    deliveries = changes * len(RECIPIENTS)
    baseline = (
        _baseline_database(data_dir, deliveries)
        if transport == "database"
        else asyncio.run(_baseline_nats(deliveries))
    )
    return {
        "bench": "mutations",
        "transport": transport,
        **result,
        "baseline_rate_per_s": baseline["rate_per_s"],
        "baseline_seconds": baseline["seconds"],
        "ratio": result["rate_per_s"] / baseline["rate_per_s"] if baseline["rate_per_s"] else None,
        "persons": persons,
        "batch": batch,
        "machine": machine(),
    }


async def _drop(stream: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception:  # noqa: S110 — already gone
        pass
    finally:
        await nc.close()


def run(
    *, changes: int, persons: int, batch: int, transports: list[str], keep: Path | None = None
) -> list[dict[str, Any]]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return [_run_transport(keep, t, changes, persons, batch) for t in transports]
    root = Path(tempfile.mkdtemp(prefix="kruispunt-bench-mutations-"))
    try:
        return [_run_transport(root, t, changes, persons, batch) for t in transports]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(results: list[dict[str, Any]], *, as_json: bool) -> None:
    for r in results:
        if as_json:
            print(json.dumps(r, separators=(",", ":")))
        else:
            print(
                f"{r['transport']}: {r['changes']} changes, {r['deliveries']} deliveries in "
                f"{r['seconds']:.1f} s ({r['rate_per_s']:.0f}/s, lag p99 {r['lag_p99_ms']:.0f} ms), "
                f"lost {r['lost']}, duplicates {r['duplicates']}; baseline {r['baseline_rate_per_s']:.0f}/s, "
                f"ratio {r['ratio']:.3f}"
            )
        sys.stdout.flush()
