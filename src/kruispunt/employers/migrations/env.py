"""Alembic environment of the employers component: run through
``kruispunt.core.migrate.upgrade(url, "employers")``."""

from kruispunt.core.migrate import run_env
from kruispunt.employers.models import metadata

run_env(metadata)
