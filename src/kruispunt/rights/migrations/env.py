"""Alembic environment of the rights component: run through
``kruispunt.core.migrate.upgrade(url, "rights")``."""

from kruispunt.core.migrate import run_env
from kruispunt.rights.models import metadata

run_env(metadata)
