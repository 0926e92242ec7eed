"""Replaced and cancelled bis numbers, published to the network.

``person.replaced_by`` / ``replaced_on`` / ``cancelled_on``: how a bis number ended; ``change_outbox``: the
``insz.replaced`` / ``insz.cancelled`` changes, written in the same transaction, published at least once.

Revision ID: bis_0002
Revises: bis_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from kruispunt.sources.changes import create_outbox, drop_outbox

revision: str = "bis_0002"
down_revision: str | None = "bis_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "replaced_by",
                sa.String(length=11),
                nullable=True,
                comment="the INSZ that replaces this number",
            )
        )
        batch_op.add_column(sa.Column("replaced_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("cancelled_on", sa.Date(), nullable=True, comment="the number was given in error")
        )
    create_outbox(op)


def downgrade() -> None:
    drop_outbox(op)
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("cancelled_on")
        batch_op.drop_column("replaced_on")
        batch_op.drop_column("replaced_by")
