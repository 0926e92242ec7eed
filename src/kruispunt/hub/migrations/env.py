"""Alembic environment of the hub's mailbox database (component ``mailbox``): batches and async answers.

Run through ``kruispunt.core.migrate.upgrade(url, "mailbox")``.
"""

from kruispunt.core.migrate import run_env
from kruispunt.hub.models import metadata

run_env(metadata)
