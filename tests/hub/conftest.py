"""Fixtures for the hub's end-to-end tests: one running network per test session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kruispunt.simulate.population import generate_population
from tests.hub.network_fixture import RunningNetwork, start_network, stop_network

PERSONS = 3_000
SEED = 424242


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNetwork]:
    """``kruispunt up`` on SQLite in a temporary folder; stopped with Ctrl-C at the end (must exit 0)."""
    running = start_network(tmp_path_factory.mktemp("network"), persons=PERSONS, seed=SEED)
    yield running
    code = stop_network(running)
    assert code == 0, "kruispunt up did not stop cleanly:\n" + "\n".join(running.stderr_lines[-30:])


@pytest.fixture(scope="session")
def people() -> list[dict[str, Any]]:
    """The same synthetic people the network was seeded with (the nation is deterministic by seed)."""
    return list(generate_population(PERSONS, SEED).records())
