"""Alembic environment of the warehouse component: run through
``kruispunt.core.migrate.upgrade(url, "warehouse")``."""

from kruispunt.core.migrate import run_env
from kruispunt.warehouse.models import metadata

run_env(metadata)
