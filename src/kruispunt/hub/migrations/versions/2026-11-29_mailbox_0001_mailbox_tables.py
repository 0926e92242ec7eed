"""mailbox tables: batch, batch_result, mailbox_message

Revision ID: mailbox_0001
Revises:
Create Date: 2026-11-29 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "mailbox_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("pk", _BigId, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False, comment="public id (UUID)"),
        sa.Column(
            "owner_kbo",
            sa.String(length=10),
            nullable=False,
            comment="CBE number of the institution that sent it",
        ),
        sa.Column("status", sa.String(length=8), nullable=False, comment="QUEUED / RUNNING / DONE / FAILED"),
        sa.Column("header", sa.Text(), nullable=False, comment="line 1 of the file, as canonical JSON"),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("message_version", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("lines_total", sa.Integer(), nullable=False, comment="non-empty lines after the header"),
        sa.Column("lines_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("data_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("no_data_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refused", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_line", sa.Integer(), nullable=False, comment="physical line number (1 = header) read next"
        ),
        sa.Column(
            "next_offset",
            sa.BigInteger(),
            nullable=False,
            comment="byte offset of next_line in the input file",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True, comment="hub process that runs it"),
        sa.Column(
            "lease_until_ms",
            sa.BigInteger(),
            nullable=True,
            comment="epoch ms; after it another process may claim",
        ),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_batch")),
        sa.UniqueConstraint("id", name=op.f("uq_batch_id")),
    )
    op.create_index("ix_batch_owner_status", "batch", ["owner_kbo", "status"], unique=False)
    op.create_index("ix_batch_status", "batch", ["status"], unique=False)
    op.create_table(
        "batch_result",
        sa.Column("batch_pk", _BigId, nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "outcome", sa.String(length=16), nullable=False, comment="DATA_FOUND / NO_DATA_FOUND / REFUSED"
        ),
        sa.Column("result", sa.Text(), nullable=False, comment="the line of results.jsonl"),
        sa.Column("error", sa.Text(), nullable=True, comment="the line of errors.jsonl (refused lines only)"),
        sa.ForeignKeyConstraint(
            ["batch_pk"], ["batch.pk"], name=op.f("fk_batch_result_batch_pk_batch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("batch_pk", "line_no", name=op.f("pk_batch_result")),
    )
    op.create_table(
        "mailbox_message",
        sa.Column(
            "ticket", sa.String(length=36), nullable=False, comment="the hub ticket, given at submission"
        ),
        sa.Column("owner_kbo", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False, comment="QUEUED / RUNNING / DONE"),
        sa.Column("request", sa.Text(), nullable=True, comment="the body as received; cleared once answered"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "http_status", sa.Integer(), nullable=True, comment="what POST /hub/messages would have answered"
        ),
        sa.Column("answer", sa.Text(), nullable=True, comment="the CBSS-style JSON answer"),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ticket", name=op.f("pk_mailbox_message")),
    )
    op.create_index(
        "ix_mailbox_message_owner_status", "mailbox_message", ["owner_kbo", "status"], unique=False
    )
    op.create_index("ix_mailbox_message_status", "mailbox_message", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mailbox_message_status", table_name="mailbox_message")
    op.drop_index("ix_mailbox_message_owner_status", table_name="mailbox_message")
    op.drop_table("mailbox_message")
    op.drop_table("batch_result")
    op.drop_index("ix_batch_status", table_name="batch")
    op.drop_index("ix_batch_owner_status", table_name="batch")
    op.drop_table("batch")
