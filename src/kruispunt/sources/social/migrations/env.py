"""Alembic environment of the social component (every social source's database): run through
``kruispunt.core.migrate.upgrade(url, "social")``."""

from kruispunt.core.migrate import run_env
from kruispunt.sources.social.models import metadata

run_env(metadata)
