"""Alembic environment of the portal component: run through
``kruispunt.core.migrate.upgrade(url, "portal")``."""

from kruispunt.core.migrate import run_env
from kruispunt.portal.models import metadata

run_env(metadata)
