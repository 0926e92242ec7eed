"""Alembic environment of the bis_register component: run through
``kruispunt.core.migrate.upgrade(url, "bis_register")``."""

from kruispunt.core.migrate import run_env
from kruispunt.sources.bis_register.models import metadata

run_env(metadata)
