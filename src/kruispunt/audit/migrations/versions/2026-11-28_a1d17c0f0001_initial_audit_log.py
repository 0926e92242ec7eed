"""Initial audit log: the hash-chained ``audit_entry`` table and the single-row ``audit_head``.

The head row is created here (seq 0, the genesis hash), so that a missing head always means tampering.

Revision ID: a1d17c0f0001
Revises:
Create Date: 2026-11-28 12:40:36
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "a1d17c0f0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ticket", sa.String(length=64), nullable=False),
        sa.Column("customer_ticket", sa.String(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("message_type", sa.String(), nullable=True),
        sa.Column("message_version", sa.String(), nullable=True),
        sa.Column("requester_kbo", sa.String(), nullable=True),
        sa.Column("requester_sector", sa.Integer(), nullable=True),
        sa.Column("requester_type", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(), nullable=True),
        sa.Column("destinations", sa.String(), nullable=False),
        sa.Column("person_insz", sa.String(), nullable=True),
        sa.Column("capacity_code", sa.Integer(), nullable=True),
        sa.Column("deliberation_id", sa.String(), nullable=True),
        sa.Column("legal_context", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason_code", sa.String(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entry")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entry_person_time", ["person_insz", "occurred_at"], unique=False)
        batch_op.create_index("ix_audit_entry_ticket", ["ticket"], unique=True)

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    assert head is not None
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": "0" * 64, "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entry_ticket")
        batch_op.drop_index("ix_audit_entry_person_time")
    op.drop_table("audit_entry")
