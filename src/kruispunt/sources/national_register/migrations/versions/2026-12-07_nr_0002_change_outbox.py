"""Changes recorded by the National Register, published to the network.

``change_outbox``: a change (a move, a household change, a death) written in the same transaction as the
register's rows, published to the mutations service at least once, in order.

Revision ID: nr_0002
Revises: nr_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from kruispunt.sources.changes import create_outbox, drop_outbox

revision: str = "nr_0002"
down_revision: str | None = "nr_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox(op)


def downgrade() -> None:
    drop_outbox(op)
