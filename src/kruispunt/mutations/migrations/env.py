"""Alembic environment of the mutations component: run through
``kruispunt.core.migrate.upgrade(url, "mutations")``."""

from kruispunt.core.migrate import run_env
from kruispunt.mutations.models import metadata

run_env(metadata)
