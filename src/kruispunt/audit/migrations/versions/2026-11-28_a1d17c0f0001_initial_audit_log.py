"""Initial audit log: the hash-chained ``audit_entry`` table (key: chain, seq) and ``audit_head``, one row
per chain.

No head row is created here: a chain's head row is created by the first batch its writer commits, in the
same transaction as its first entries, so a chain that holds entries always has a head row.

Revision ID: a1d17c0f0001
Revises:
Create Date: 2026-11-28 12:40:36
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1d17c0f0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHAIN_RANGE = "chain >= 0 AND chain <= 999"


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("chain", sa.SmallInteger(), autoincrement=False, nullable=False),
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
        sa.CheckConstraint(_CHAIN_RANGE, name=op.f("ck_audit_entry_chain_range")),
        sa.PrimaryKeyConstraint("chain", "seq", name=op.f("pk_audit_entry")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entry_person_time", ["person_insz", "occurred_at"], unique=False)
        batch_op.create_index("ix_audit_entry_ticket", ["ticket"], unique=True)

    op.create_table(
        "audit_head",
        sa.Column("chain", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_CHAIN_RANGE, name=op.f("ck_audit_head_chain_range")),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_head")),
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entry_ticket")
        batch_op.drop_index("ix_audit_entry_person_time")
    op.drop_table("audit_entry")
