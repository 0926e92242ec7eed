"""Table pieces every component's database shares: the auto-incrementing id type, the ``meta`` key/value
table, and the :class:`~sqlalchemy.Table` behind a declarative class."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text
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
