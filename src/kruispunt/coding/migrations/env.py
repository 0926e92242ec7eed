"""Alembic environment of the coding component: run through
``kruispunt.core.migrate.upgrade(url, "coding")``."""

from kruispunt.coding.models import metadata
from kruispunt.core.migrate import run_env

run_env(metadata)
