"""Fixtures of the source tests: a small simulated nation loaded into fresh registers on each backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
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
