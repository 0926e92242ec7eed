"""Alembic environment of the audit component; run it via ``kruispunt.core.migrate.upgrade(url, "audit")``."""

from kruispunt.audit.models import metadata
from kruispunt.core.migrate import run_env

run_env(metadata)
