"""Table pieces every component's database shares: the auto-incrementing id type, the ``meta`` key/value
table, and the :class:`~sqlalchemy.Table` behind a declarative class."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy.orm import DeclarativeBase

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
"""An auto-incrementing id: SQLite only auto-increments an ``INTEGER PRIMARY KEY`` (the rowid); PostgreSQL
gets a BIGINT."""


def meta_table(metadata: MetaData) -> Table:
    """The ``meta`` table of a database: small key/value facts about it (e.g. which simulated population it
    was seeded with)."""
    return Table(
        "meta",
        metadata,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )


def table_of(cls: type[DeclarativeBase]) -> Table:
    """The Core table a declarative class is mapped to."""
    table = cls.__table__
    assert isinstance(table, Table)
    return table


def read_meta(conn: Connection, table: Table) -> dict[str, str]:
    """Every key/value of a ``meta`` table."""
    return {row.key: row.value for row in conn.execute(select(table.c.key, table.c.value))}


def write_meta(conn: Connection, table: Table, values: Mapping[str, str]) -> None:
    """Set some keys of a ``meta`` table (replacing what they held)."""
    conn.execute(delete(table).where(table.c.key.in_(list(values))))
    conn.execute(insert(table), [{"key": k, "value": v} for k, v in values.items()])
