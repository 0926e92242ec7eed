"""Tables of the audit database: the hash-chained entries and the single-row chain head.

Why ``seq`` is assigned by the writer and not by the database: a contiguous 1, 2, 3 … sequence makes a
deleted row visible as a gap. Why a separate head row: deleting the *last* entries leaves no gap, but the
head (updated in the same transaction as every batch) still names the last seq and hash, so a truncated
tail is detected too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core.db import ComponentBase, new_metadata

metadata = new_metadata()

GENESIS_HASH = "0" * 64
"""``prev_hash`` of entry 1 and ``last_hash`` of an empty log."""

HEAD_ID = 1
"""Primary key of the only row of ``audit_head``."""


class AuditBase(ComponentBase):
    """Declarative base of the audit component (own metadata and registry: a database of its own)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class AuditEntry(AuditBase):
    """One exchange (allowed or refused), chained to the previous one by ``prev_hash``/``entry_hash``."""

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ticket: Mapped[str] = mapped_column(String(64), nullable=False)
    customer_ticket: Mapped[str | None] = mapped_column(String, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    channel: Mapped[str] = mapped_column(String, nullable=False)
    message_type: Mapped[str | None] = mapped_column(String, nullable=True)
    message_version: Mapped[str | None] = mapped_column(String, nullable=True)
    requester_kbo: Mapped[str | None] = mapped_column(String, nullable=True)
    requester_sector: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requester_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String, nullable=True)
    # canonical JSON array of KBO numbers, e.g. '["0123456749"]'; '[]' when nothing was forwarded
    destinations: Mapped[str] = mapped_column(String, nullable=False)
    person_insz: Mapped[str | None] = mapped_column(String, nullable=True)
    capacity_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deliberation_id: Mapped[str | None] = mapped_column(String, nullable=True)
    legal_context: Mapped[str | None] = mapped_column(String, nullable=True)
    outcome: Mapped[str] = mapped_column(String, nullable=False)
    reason_code: Mapped[str | None] = mapped_column(String, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_audit_entry_ticket", "ticket", unique=True),
        Index("ix_audit_entry_person_time", "person_insz", "occurred_at"),
    )


class AuditHead(AuditBase):
    """The chain head: last seq and hash, updated in the same transaction as each written batch."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (CheckConstraint(f"id = {HEAD_ID}", name="single_row"),)


def _table(cls: type[AuditBase]) -> Table:
    table = cls.__table__
    assert isinstance(table, Table)
    return table


audit_entry: Table = _table(AuditEntry)
audit_head: Table = _table(AuditHead)
