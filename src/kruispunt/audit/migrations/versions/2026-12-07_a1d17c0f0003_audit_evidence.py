"""The signed request's and the signed answer's digests and signatures of each exchange (``audit_evidence``).

Revision ID: a1d17c0f0003
Revises: a1d17c0f0002
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1d17c0f0003"
down_revision: str | None = "a1d17c0f0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_evidence",
        sa.Column("ticket", sa.String(length=64), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.Column("request_signature", sa.String(), nullable=True),
        sa.Column("reply_digest", sa.String(length=64), nullable=False),
        sa.Column("reply_signature", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("ticket", name=op.f("pk_audit_evidence")),
    )


def downgrade() -> None:
    op.drop_table("audit_evidence")
