"""Kill the service and a recipient in the middle of a fan-out, restart them: every change reaches every
subscriber exactly once as the subscriber applies it, in order per person — on both transports.

Real processes over real HTTP: the mutations service (``kruispunt serve mutations``, killed with SIGKILL
while a source publishes, restarted), a push recipient (``kruispunt mutations record``, killed and restarted
a few seconds later: a recipient down catches up) and a pull recipient (a :class:`PullConsumer` thread).
The source publishes each batch until it is answered (at-least-once from the source; the change ids make
that harmless).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.mutations.consumer import PullConsumer, record_change, recorder_applied, recorder_metadata
from kruispunt.network import KSZ
from kruispunt.network.directory import bulk_load
from kruispunt.trust.ca import NetworkCA
from kruispunt.trust.receiver import EnvelopeAuth
from tests.mutations.conftest import CM, NATS_URL, OCMW_GENT, RVA, nats_reachable, people

pytestmark = pytest.mark.slow

PERSONS = 120
CHANGES = 1_200  # ten per person, alternating opened / amended
BATCH = 40
SECRET = "test-secret-of-the-ocmw-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kruispunt", *args],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_up(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _change(n: int, insz: str) -> dict[str, Any]:
    return {
        "change_id": f"rva-{n}",
        "source": RVA,
        "type": "status.opened" if n % 2 == 0 else "status.amended",
        "insz": insz,
        "effective": "2026-10-01",
        "data": {
            "kind": "unemployment",
            "file_key": f"file-{insz}",
            "start": "2026-10-01",
            "attrs": {"n": n},
        },
    }


def _received(db: Path) -> list[Any]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(text("SELECT id, key, seq, insz, change_id FROM received_change ORDER BY id"))
            )
    except Exception:
        return []
    finally:
        engine.dispose()


def _check(rows: list[Any], changes: list[dict[str, Any]]) -> None:
    ids = [r.change_id for r in rows]
    assert len(ids) == len(set(ids)), "a change was applied twice"
    assert set(ids) == {c["change_id"] for c in changes}, "a change was lost"
    by_person: dict[str, list[int]] = {}
    for r in rows:
        by_person.setdefault(r.insz, []).append(int(r.change_id.split("-")[1]))
    for insz, order in by_person.items():
        assert order == sorted(order), f"out of order for {insz}: {order}"


@pytest.mark.parametrize("transport", ["database", "nats"])
def test_killed_service_and_recipient_still_deliver_every_change_once_in_order(
    tmp_path: Path, transport: str
) -> None:
    if transport == "nats":
        pytest.importorskip("kruispunt.mutations.nats_transport")
        if not nats_reachable():
            if os.environ.get("KRUISPUNT_REQUIRE_NATS") == "1":
                pytest.fail(f"NATS required but not reachable at {NATS_URL}")
            pytest.skip("no NATS server")
    data = tmp_path / "data"
    inszs = people(PERSONS)
    hub_url = component_url(None, data, "hub")
    upgrade(hub_url, "hub")
    directory = make_engine(hub_url)
    start = dt.date(2020, 1, 1)
    bulk_load(
        directory,
        [
            row
            for i in inszs
            for row in (
                (i, OCMW_GENT, 17, 1, 2, None, start, None, "PRIMARY"),
                (i, CM, 11, 1, 1, None, start, None, "PRIMARY"),
            )
        ],
    )
    directory.dispose()
    ca = NetworkCA.create(data / "trust")  # the operators' view of the recipient requires the KSZ's signature
    operator = EnvelopeAuth(ca.issue(KSZ, "KSZ"), subject="operator-1")
    ca.save(operator.identity)
    stream = f"KPFAULT_{uuid.uuid4().hex[:8].upper()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    env.update(
        KRUISPUNT_DATA_DIR=str(data),
        KRUISPUNT_MUTATIONS_TRANSPORT=transport,
        KRUISPUNT_NATS_URL=NATS_URL,
        KRUISPUNT_NATS_STREAM=stream,
    )
    m_port, r_port = free_port(), free_port()
    m_url, r_url = f"http://127.0.0.1:{m_port}", f"http://127.0.0.1:{r_port}"
    record_db = tmp_path / "ocmw.db"
    mutations_args = ["serve", "mutations", "--port", str(m_port)]
    recorder_args = ["mutations", "record", "--db", str(record_db), "--port", str(r_port), "--secret", SECRET]
    log = tmp_path / "processes.log"
    service = _serve(mutations_args, env, log)
    recorder = _serve(recorder_args, env, log)
    changes = [_change(n, inszs[n % PERSONS]) for n in range(CHANGES)]
    stop = threading.Event()
    consumer_db = tmp_path / "mutuality.db"
    consumer_engine = make_engine(f"sqlite:///{consumer_db}")
    recorder_metadata.create_all(consumer_engine)
    try:
        _wait_up(m_url, service)
        _wait_up(r_url, recorder)
        put = httpx.put(
            f"{m_url}/mutations/recipients/{OCMW_GENT}",
            json={"mode": "push", "callback_url": f"{r_url}/changes", "secret": SECRET},
            headers={"X-Kruispunt-Institution": OCMW_GENT},
            timeout=10,
        )
        assert put.status_code == 200, put.text
        consumer = PullConsumer(
            base_url=m_url, recipient=CM, engine=consumer_engine, table=recorder_applied, apply=record_change
        )
        pulling = threading.Thread(target=consumer.run, args=(stop,), kwargs={"wait_s": 1.0, "retry_s": 0.3})
        pulling.start()

        for b in range(0, CHANGES, BATCH):
            if b == CHANGES // 3:
                _kill(service)  # the service dies in the middle of the fan-out …
                service = _serve(mutations_args, env, log)  # … and comes back
            if b == CHANGES // 2:
                _kill(recorder)  # a recipient dies …
            if b == 2 * CHANGES // 3:
                recorder = _serve(recorder_args, env, log)  # … and comes back later
            while True:  # the source publishes until it is answered
                try:
                    answer = httpx.post(
                        f"{m_url}/mutations/changes",
                        json={"changes": changes[b : b + BATCH]},
                        headers={"X-Kruispunt-Institution": RVA},
                        timeout=10,
                    )
                    if answer.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(_received(record_db)) >= CHANGES and len(_received(consumer_db)) >= CHANGES:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # anything applied twice would show by now
        _check(_received(record_db), changes)
        _check(_received(consumer_db), changes)
        state = httpx.get(f"{m_url}/mutations/recipients/{OCMW_GENT}", timeout=10, auth=operator).json()
        assert state["backlog"] == 0, state
        assert state["deadLetters"] == 0, state
        assert state["retries"] > 0, state  # the recipient was down, and was caught up with
    finally:
        stop.set()
        for proc in (service, recorder):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _kill(proc)
        consumer_engine.dispose()
        if transport == "nats":
            _drop_stream(stream)


def _drop_stream(stream: str) -> None:
    import asyncio

    import nats

    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            with contextlib.suppress(Exception):  # already gone
                await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(drop())
