"""What every benchmark shares: the machine description, the one-line report, and the plumbing to start,
wait for, load and stop the services it measures."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import aiohttp
import httpx


def machine() -> dict[str, Any]:
    """Where the numbers were measured (recorded with every result)."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def print_result(result: dict[str, Any], *, as_json: bool, summary: str) -> None:
    """One JSON object on one line (``--json``), or a sentence for people."""
    print(json.dumps(result, separators=(",", ":")) if as_json else summary)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until ``url/health`` answers 200; an error if ``proc`` exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy in {timeout}s")


def start_service(
    name: str, port: int, env: dict[str, str], *extra: str, stdout: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """``kruispunt serve NAME --port PORT [EXTRA…]`` as its own process; its output to ``stdout`` (with its
    errors) when given, else inherited."""
    return subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "serve", name, "--port", str(port), *extra],
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
    )


def stop(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """Terminate every process, then wait ``timeout`` seconds for each and kill what is still running."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    statuses: dict[int, int],
    headers: dict[str, str] | None = None,
) -> bool:
    """POST one JSON body and count its status in ``statuses``; False when the connection failed."""
    try:
        sent = {"content-type": "application/json", **(headers or {})}
        async with session.post(url, data=body, headers=sent) as response:
            await response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
    except aiohttp.ClientError:
        return False
    return True
