"""Database engines: SQLite (WAL) by default, PostgreSQL by URL, one database per service.

Why one database per service: the hub keeps only routing data and the log; each authentic source keeps
its own data. On SQLite that is one file per service in the data folder; on PostgreSQL one database per
service on the same server, created on first use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the naming convention every component uses (same constraint names on both engines)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class ComponentBase(DeclarativeBase):
    """Parent of each component's declarative base; each component sets its own ``metadata``."""

    __abstract__ = True


_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def component_url(base_url: str | None, data_dir: Path, component: str) -> str:
    """The database URL of one service.

    ``base_url`` None → ``sqlite:///<data_dir>/<component>.db``; a PostgreSQL URL ``…/name`` →
    ``…/name_<component>``; a SQLite URL is taken as a folder-less prefix: ``<file stem>_<component>.db``.
    """
    if not _SAFE_NAME.match(component):
        raise ValueError(f"component name {component!r} is not a safe database name")
    if base_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(data_dir / f'{component}.db').resolve()}"
    url = make_url(base_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:"):
            return "sqlite://"
        path = Path(database)
        return str(url.set(database=str(path.with_name(f"{path.stem}_{component}{path.suffix or '.db'}"))))
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url.set(database=f"{url.database or 'kruispunt'}_{component}").render_as_string(
            hide_password=False
        )
    raise ValueError(f"unsupported database URL {base_url!r}: use sqlite:/// or postgresql://")


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist (no-op for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    name = parsed.database or ""
    if not _SAFE_NAME.match(name):
        raise ValueError(f"database name {name!r} is not a safe identifier")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database (tests), or delete a SQLite file and its WAL companions."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    name = parsed.database or ""
    if not _SAFE_NAME.match(name):
        raise ValueError(f"database name {name!r} is not a safe identifier")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # reads of large files (the persons directory holds tens of millions of lines): a 64 MiB page cache
    # and memory-mapped I/O spare a system call per page
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas SQLite needs for concurrent services (WAL, busy timeout)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
