"""Changes of status published to the network.

``change_outbox``: a change (a file opened, amended, closed, cancelled) written in the same transaction as
the file, published to the mutations service at least once, in order.

Revision ID: social_0003
Revises: social_0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "social_0003"
down_revision: str | None = "social_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "change_outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column(
            "source",
            sa.String(length=10),
            nullable=False,
            comment="KBO of the publishing institution (the holder)",
        ),
        sa.Column("change", _JSON, nullable=False, comment="the change as published"),
        sa.Column("state", sa.String(length=8), nullable=False, comment="pending | done | refused"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_outbox")),
    )
    with op.batch_alter_table("change_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_change_outbox_state", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("change_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_change_outbox_state")
    op.drop_table("change_outbox")
