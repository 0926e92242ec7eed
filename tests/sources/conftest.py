"""Fixtures of the source tests: a small simulated nation loaded into fresh registers on each backend, and
a running mutations service the registers publish their changes to."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.mutations.api import create_mutations_app
from kruispunt.network.directory import bulk_load
from kruispunt.simulate import PopulationBatch, generate_population
from kruispunt.sources.bis_register import service as bis_service
from kruispunt.sources.national_register import service as nr_service

POPULATION = 2_000
SEED = 4242


@pytest.fixture(scope="session")
def population() -> PopulationBatch:
    return generate_population(POPULATION, SEED)


@pytest.fixture(scope="session")
def people(population: PopulationBatch) -> list[dict[str, Any]]:
    return list(population.records())


def _seeded(fresh_db: Callable[[str], str], component: str, service: Any, population: PopulationBatch) -> str:
    """A fresh migrated database of ``component`` loaded by ``service.load_population``."""
    url = fresh_db(component)
    upgrade(url, component)
    engine = make_engine(url)
    service.load_population(engine, [population])
    engine.dispose()
    return url


def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def nr_url(fresh_db: Callable[[str], str], population: PopulationBatch) -> str:
    """A migrated National Register database holding the simulated population."""
    return _seeded(fresh_db, "national_register", nr_service, population)


@pytest.fixture
def nr_engine(nr_url: str) -> Iterator[Engine]:
    yield from _engine(nr_url)


@pytest.fixture
def bis_url(fresh_db: Callable[[str], str], population: PopulationBatch) -> str:
    """A migrated bis register database holding the simulated non-residents."""
    return _seeded(fresh_db, "bis_register", bis_service, population)


@pytest.fixture
def bis_engine(bis_url: str) -> Iterator[Engine]:
    yield from _engine(bis_url)


@dataclass
class RunningMutations:
    """The mutations service answering over HTTP on 127.0.0.1 (a uvicorn server in a thread), and its
    persons directory (who knows whom: the fan-out follows it)."""

    url: str
    directory: Engine

    def know(self, insz: str, kbo: str, sector: int, capacity: int) -> None:
        bulk_load(
            self.directory, [(insz, kbo, sector, 1, capacity, None, dt.date(2020, 1, 1), None, "PRIMARY")]
        )

    def feed(self, recipient: str) -> list[dict[str, Any]]:
        reply = httpx.get(
            f"{self.url}/mutations/feed/{recipient}", headers={"X-Kruispunt-Institution": recipient}
        )
        reply.raise_for_status()
        deliveries: list[dict[str, Any]] = reply.json()["deliveries"]
        return deliveries

    def wait_for_feed(self, recipient: str, count: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        """The recipient's feed once it holds ``count`` deliveries (the publisher sends in its own time)."""
        deadline = time.monotonic() + timeout_s
        while True:
            deliveries = self.feed(recipient)
            if len(deliveries) >= count or time.monotonic() > deadline:
                return deliveries
            time.sleep(0.05)


@pytest.fixture
def mutations(fresh_db: Callable[[str], str]) -> Iterator[RunningMutations]:
    """A running mutations service on a fresh database of this backend (pull deliveries, no push)."""
    directory_url = fresh_db("hub")
    upgrade(directory_url, "hub")
    directory = make_engine(directory_url)
    app = create_mutations_app(
        url=fresh_db("mutations"), directory_url=directory_url, log_url=fresh_db("mutations_log"), push=False
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the mutations service did not start")
        time.sleep(0.02)
    try:
        yield RunningMutations(f"http://127.0.0.1:{port}", directory)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        directory.dispose()
