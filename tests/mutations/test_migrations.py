"""The mutations component's migrations build exactly the tables of the models."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import current_revision, head_revision, upgrade
from kruispunt.mutations.models import metadata


def test_upgrade_matches_the_models(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("mutations")
    upgrade(url, "mutations")
    upgrade(url, "mutations")
    engine = make_engine(url)
    try:
        assert current_revision(engine, "mutations") == head_revision("mutations") == "mutations_0002"
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
