"""Changes of status published to the network.

``change_outbox``: a change (a file opened, amended, closed, cancelled) written in the same transaction as
the file, published to the mutations service at least once, in order.

Revision ID: social_0003
Revises: social_0002
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

from kruispunt.sources.changes import create_outbox, drop_outbox

revision: str = "social_0003"
down_revision: str | None = "social_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox(op)


def downgrade() -> None:
    drop_outbox(op)
