"""Alembic migrations, one migration folder per component, run programmatically.

Each component package keeps ``migrations/env.py`` (which calls :func:`run_env`) and
``migrations/versions/``. ``upgrade(url, component)`` brings that component's database to head.
"""

from __future__ import annotations

from importlib import resources

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Engine, MetaData

from kruispunt.core.db import ensure_database, make_engine

# component name → package holding its migrations folder
COMPONENTS: dict[str, str] = {
    "hub": "kruispunt.network",
    "audit": "kruispunt.audit",
    "national_register": "kruispunt.sources.national_register",
    "bis_register": "kruispunt.sources.bis_register",
    # every social source (primary, member, managing) has its own database with this one schema
    "social": "kruispunt.sources.social",
    # the hub's mailbox: batches, their lines' results, asynchronous answers
    "mailbox": "kruispunt.hub",
    # the employer declarations (Dimona, DmfA, DRS) the RSZ receives
    "employers": "kruispunt.employers",
    # change notifications: the changes received, their deliveries (outbox), the recipients' state
    "mutations": "kruispunt.mutations",
    # harmonised social statuses and derived rights: statuses, households, entitlements, lists
    "rights": "kruispunt.rights",
    # the warehouse's trusted third party: project keys, code links, decoding approvals and log
    "coding": "kruispunt.coding",
    # the statistical warehouse: research requests, their steps, the extracts delivered
    "warehouse": "kruispunt.warehouse",
    # the portal: the enterprises' access managers, user roles, their log, the submissions sent through it
    "portal": "kruispunt.portal",
}


def alembic_config(component: str) -> Config:
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; known: {', '.join(sorted(COMPONENTS))}")
    cfg = Config()
    location = resources.files(COMPONENTS[component]) / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def upgrade(url: str, component: str, engine: Engine | None = None) -> None:
    """Create the database if needed and apply every migration of ``component``."""
    ensure_database(url)
    cfg = alembic_config(component)
    own = engine is None
    eng = engine or make_engine(url)
    try:
        with eng.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        if own:
            eng.dispose()


def current_revision(engine: Engine, component: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(component: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(component)).get_current_head()


def run_env(target_metadata: MetaData) -> None:
    """Body of every component's ``env.py``: online migrations on the connection we were handed."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through kruispunt.core.migrate.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
