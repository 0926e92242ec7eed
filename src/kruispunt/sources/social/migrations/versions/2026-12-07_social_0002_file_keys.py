"""Files addressed by a key.

A nullable ``key`` on social_file (the sender's name for the file: a Dimona period id, an
employer:quarter:INSZ triple, a declaration id), unique per (kind, member, key), so that the employers
service's at-least-once deliveries open a file once and amend it afterwards; cancelled_file keeps the keys
of cancelled files with the answer given.

Revision ID: social_0002
Revises: social_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "social_0002"
down_revision: str | None = "social_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("social_file", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "key",
                sa.String(length=128),
                nullable=True,
                comment="the sender's key of the file (unique per kind and holder); NULL = none",
            )
        )
        batch_op.create_index("ux_social_file_kind_member_key", ["kind", "member", "key"], unique=True)

    op.create_table(
        "cancelled_file",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("member", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("insz", sa.String(length=11), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", _JSON, nullable=False, comment="the answer to the cancel"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancelled_file")),
    )
    with op.batch_alter_table("cancelled_file", schema=None) as batch_op:
        batch_op.create_index("ux_cancelled_file_kind_member_key", ["kind", "member", "key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("cancelled_file", schema=None) as batch_op:
        batch_op.drop_index("ux_cancelled_file_kind_member_key")
    op.drop_table("cancelled_file")
    with op.batch_alter_table("social_file", schema=None) as batch_op:
        batch_op.drop_index("ux_social_file_kind_member_key")
        batch_op.drop_column("key")
