"""``kruispunt up`` and ``kruispunt serve``: seed the network, run each service as its own process.

Why separate processes: the hub keeps no substantive personal data and each authentic source has its
own database; running them as separate HTTP services on localhost is the same shape as a deployment,
just smaller.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import httpx
import uvicorn

from kruispunt.core.settings import get_settings

SOURCE_SERVICES = ("national_register", "bis_register")


def create_service_app(service: str) -> object:
    """The ASGI app of one service, configured from the environment."""
    settings = get_settings()
    if service == "hub":
        from kruispunt.hub.api import create_app as create_hub

        return create_hub(settings)
    from kruispunt.core.db import component_url

    url = component_url(settings.db_url, settings.data_dir, service)
    if service == "national_register":
        from kruispunt.sources.national_register.api import create_app as create_nr

        return create_nr(url)
    if service == "bis_register":
        from kruispunt.sources.bis_register.api import create_app as create_bis

        return create_bis(url)
    raise ValueError(f"unknown service {service!r}")


def serve_service(service: str, *, host: str, port: int) -> None:
    app = create_service_app(service)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_ports(host: str, first: int, count: int) -> list[int]:
    """``count`` free ports from ``first`` upwards, so that `up` still starts when 8000 is taken."""
    ports: list[int] = []
    candidate = first
    while len(ports) < count and candidate < 65535:
        if _port_free(host, candidate):
            ports.append(candidate)
        candidate += 1
    return ports


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def run_network(*, persons: int, seed: int, host: str, port: int) -> int:
    """Seed, start every service, print `NAME URL` lines and `ready`, run until Ctrl-C; the exit code."""
    from kruispunt.seed import seed_network

    settings = get_settings()
    print(f"seeding a synthetic nation of {persons} people (seed {seed}) …", file=sys.stderr, flush=True)
    seeded = seed_network(settings=settings, persons=persons, seed=seed)
    for line in seeded.summary_lines():
        print(line, file=sys.stderr, flush=True)

    services = (*SOURCE_SERVICES, "hub")
    ports = dict(zip(("hub", *SOURCE_SERVICES), _free_ports(host, port, len(services)), strict=True))
    urls = {name: f"http://{host}:{ports[name]}" for name in services}
    env = {**os.environ, "KRUISPUNT_ENDPOINTS": json.dumps({s: urls[s] for s in SOURCE_SERVICES})}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(_signum: int | None = None, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name in services:
            procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kruispunt",
                    "serve",
                    name,
                    "--host",
                    host,
                    "--port",
                    str(ports[name]),
                ],
                env=env,
                start_new_session=True,
            )
        for name in services:
            if not _wait_healthy(urls[name], procs[name], timeout_s=120):
                print(f"{name} did not start; see the messages above", file=sys.stderr, flush=True)
                return 1
        for name in ("hub", *SOURCE_SERVICES):
            print(f"{name} {urls[name]}", flush=True)
        print("ready", flush=True)
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    print(
                        f"{name} stopped unexpectedly (exit {proc.returncode})", file=sys.stderr, flush=True
                    )
                    return 1
            time.sleep(0.3)
        return 0
    finally:
        _stop_all(procs)


def _stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
