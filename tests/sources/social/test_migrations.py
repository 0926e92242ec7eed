"""The social component's migrations build exactly the tables of the models."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import current_revision, head_revision, upgrade
from kruispunt.sources.social.models import metadata


def test_upgrade_matches_the_models(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("social")
    upgrade(url, "social")
    upgrade(url, "social")  # a second run is a no-op
    engine = make_engine(url)
    try:
        assert current_revision(engine, "social") == head_revision("social") == "social_0003"
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
