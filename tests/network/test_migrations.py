from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import current_revision, head_revision, upgrade
from kruispunt.network.models import metadata


def test_upgrade_matches_the_models(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("hub")
    upgrade(url, "hub")
    upgrade(url, "hub")  # a second run is a no-op
    engine = make_engine(url)
    try:
        assert current_revision(engine, "hub") == head_revision("hub") == "hub_0001"
        assert {"sector", "capacity", "institution", "person_line"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
