"""Alembic environment of the national_register component: run through
``kruispunt.core.migrate.upgrade(url, "national_register")``."""

from kruispunt.core.migrate import run_env
from kruispunt.sources.national_register.models import metadata

run_env(metadata)
