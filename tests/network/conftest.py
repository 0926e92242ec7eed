"""Network test fixtures: packaged registry and catalogue, the repo deliberations, a migrated hub DB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import REPO_ROOT
from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import DeliberationIndex, load_deliberations
from kruispunt.network.registry import Institution, Registry

DELIBERATIONS_DIR: Path = REPO_ROOT / "deliberations"

KSZ = "0244640631"
NATIONAL_REGISTER = "0362475538"
RVA = "0206737484"
RSZ = "0206731645"
OCMW_GENT = "0212140186"
OCMW_ANTWERPEN = "0212059420"
CPAS_CHARLEROI = "0207184377"
MUTUALITY = "0411702543"
HZIV = "0206640286"
CHILD_BENEFIT_FUND = "0409900026"

# valid INSZ (national-register numbers unless said otherwise)
PERSON_A = "85073003328"
PERSON_B = "75060898009"
PERSON_C = "17073003384"
BIS_PERSON = "98472899765"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.load_default()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.load_default()


@pytest.fixture(scope="session")
def deliberations(registry: Registry, catalogue: Catalogue) -> DeliberationIndex:
    return load_deliberations(DELIBERATIONS_DIR, registry=registry, catalogue=catalogue)


@pytest.fixture(scope="session")
def inst(registry: Registry) -> Callable[[str], Institution]:
    def get(kbo: str) -> Institution:
        found = registry.institution(kbo)
        assert found is not None, kbo
        return found

    return get


@pytest.fixture
def hub_engine(fresh_db: Callable[[str], str]) -> Iterator[Engine]:
    """A migrated, empty hub database on the current backend."""
    url = fresh_db("hub")
    upgrade(url, "hub")
    engine = make_engine(url)
    yield engine
    engine.dispose()
