"""Tables of the audit database: the hash-chained entries and one head row per chain.

Why chains: every hub worker process has its own writer and writes its own chain (``chain`` 0..999), so no
two processes contend for one head. Each chain is hashed on its own; the key of an entry is (chain, seq).

Why ``seq`` is assigned by the writer and not by the database: a contiguous 1, 2, 3 … sequence per chain
makes a deleted row visible as a gap. Why a separate head row per chain: deleting the *last* entries of a
chain leaves no gap, but its head (written in the same transaction as every batch of that chain) still
names the last seq and hash, so a truncated tail is detected too. A chain's head row is created by the
first batch its writer commits (see :class:`kruispunt.audit.service.AuditWriter`), so a chain that holds
entries always has one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, SmallInteger, String, Table
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import table_of

metadata = new_metadata()

GENESIS_HASH = "0" * 64
"""``prev_hash`` of entry 1 of every chain, and ``last_hash`` of an empty chain."""

MAX_CHAIN = 999
"""Chains are numbered 0..MAX_CHAIN (one per writer process)."""

_CHAIN_RANGE = f"chain >= 0 AND chain <= {MAX_CHAIN}"


class AuditBase(ComponentBase):
    """Declarative base of the audit component (own metadata and registry: a database of its own)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class AuditEntry(AuditBase):
    """One exchange (allowed or refused), chained to the previous one of its chain by ``prev_hash``."""

    __tablename__ = "audit_entry"

    chain: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
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
        CheckConstraint(_CHAIN_RANGE, name="chain_range"),
        Index("ix_audit_entry_ticket", "ticket", unique=True),
        Index("ix_audit_entry_person_time", "person_insz", "occurred_at"),
    )


class AuditHead(AuditBase):
    """A chain's head: its last seq and hash, written in the same transaction as each batch of the chain."""

    __tablename__ = "audit_head"

    chain: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (CheckConstraint(_CHAIN_RANGE, name="chain_range"),)


class AuditCheckpoint(AuditBase):
    """A signed statement of the log's state: per chain its size and Merkle root (RFC 9162).

    ``body`` is the canonical JSON that ``token`` (a compact JWS by the KSZ's key) signs; both are kept so a
    checkpoint can be handed out as it was signed. See :mod:`kruispunt.audit.checkpoints`.
    """

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    body: Mapped[str] = mapped_column(String, nullable=False)
    token: Mapped[str] = mapped_column(String, nullable=False)


class AuditEvidence(AuditBase):
    """What proves an exchange beyond the log entry: the sender's signature over the request's SHA-256 and
    the hub's signature over the answer's, which also names the ticket and the request's digest.

    Kept beside the hash chain, not in it: each signature is proof by itself (made by the sender's or the
    KSZ's key), and the hub's signature binds the pair to the entry's ticket; see
    :mod:`kruispunt.audit.evidence`. Bodies are not kept: their digests are what was signed."""

    __tablename__ = "audit_evidence"

    ticket: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_signature: Mapped[str | None] = mapped_column(String, nullable=True)
    reply_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    reply_signature: Mapped[str] = mapped_column(String, nullable=False)


audit_entry: Table = table_of(AuditEntry)
audit_evidence: Table = table_of(AuditEvidence)
audit_head: Table = table_of(AuditHead)
audit_checkpoint: Table = table_of(AuditCheckpoint)
