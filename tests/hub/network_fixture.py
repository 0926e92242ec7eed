"""Start the whole network the way a person does — ``kruispunt up`` in its own process — for e2e tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kruispunt.network import KSZ
from kruispunt.trust.receiver import EnvelopeAuth, own_identity


@dataclass
class RunningNetwork:
    data_dir: Path
    urls: dict[str, str]
    persons: int
    seed: int
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def hub(self) -> str:
        return self.urls["hub"]

    def as_ksz(self, subject: str) -> EnvelopeAuth:
        """Signs a request as the KSZ (its key in the network's trust folder), for ``subject``: what the
        portal sends for a logged-in person."""
        identity = own_identity(self.data_dir / "trust", KSZ)
        assert identity is not None, "the network holds no KSZ identity"
        return EnvelopeAuth(identity, subject=subject)


def free_port_block(count: int) -> int:
    """A first port such that ``count`` consecutive ports are free (checked, not guaranteed).

    Chosen below the kernel's ephemeral range (``ip_local_port_range``, 32768+ by default): a port picked
    there can be taken by any outgoing connection between the check and the moment a service binds it.
    """
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20_000, 32_000 - count)
        ok = True
        for port in range(first, first + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return first
    raise RuntimeError("no free port block")


def _drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))


def start_network(
    data_dir: Path, *, persons: int, seed: int, db: str | None = None, hub_workers: int = 1
) -> RunningNetwork:
    port = free_port_block(16)  # the hub, two registers, the social-security sources
    cmd = [
        sys.executable,
        "-m",
        "kruispunt",
        "up",
        "--persons",
        str(persons),
        "--seed",
        str(seed),
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
    ]
    if db:
        cmd += ["--db", db]
    if hub_workers > 1:
        cmd += ["--hub-workers", str(hub_workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stderr is not None
    stderr_lines: list[str] = []
    threading.Thread(target=_drain, args=(proc.stderr, stderr_lines), daemon=True).start()
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        line = line.strip()
        if line == "ready":
            return RunningNetwork(data_dir, urls, persons, seed, proc, stderr_lines)
        name, _, url = line.partition(" ")
        urls[name] = url
    proc.kill()
    raise RuntimeError("kruispunt up did not print ready:\n" + "\n".join(stderr_lines[-40:]))


def stop_network(network: RunningNetwork) -> int:
    """Ctrl-C, as a person would; returns the exit code."""
    network.process.send_signal(signal.SIGINT)
    try:
        return network.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        network.process.kill()
        return -9
