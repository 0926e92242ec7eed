"""Alembic environment of the hub database (component ``hub``): the network tables.

Run through ``kruispunt.core.migrate.upgrade(url, "hub")``.
"""

from kruispunt.core.migrate import run_env
from kruispunt.network.models import metadata

run_env(metadata)
