"""Initial social source.

Tables of every social source (primary, member of a secondary network, managing institution): the files
(social_file), the attestations issued (issued_attestation), the member directory of a managing
institution (member_line), meta.

Revision ID: social_0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "social_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "issued_attestation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("insz", sa.String(length=11), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("status", _JSON, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token", sa.Text(), nullable=False, comment="compact JWS signed by the issuer"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_attestation")),
    )
    with op.batch_alter_table("issued_attestation", schema=None) as batch_op:
        batch_op.create_index("ix_issued_attestation_insz", ["insz", "issued_at"], unique=False)

    op.create_table(
        "member_line",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("insz", sa.String(length=11), nullable=False),
        sa.Column("member", sa.String(length=10), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_line")),
    )
    with op.batch_alter_table("member_line", schema=None) as batch_op:
        batch_op.create_index("ux_member_line_insz_member", ["insz", "member"], unique=True)

    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.create_table(
        "social_file",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("insz", sa.String(length=11), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column(
            "member", sa.String(length=10), nullable=False, comment="KBO of the institution holding the file"
        ),
        sa.Column(
            "capacity", sa.SmallInteger(), nullable=False, comment="capacity code in the persons directory"
        ),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=True, comment="inclusive; NULL = open"),
        sa.Column("attrs", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_file")),
    )
    with op.batch_alter_table("social_file", schema=None) as batch_op:
        batch_op.create_index("ix_social_file_insz", ["insz", "start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("social_file", schema=None) as batch_op:
        batch_op.drop_index("ix_social_file_insz")
    op.drop_table("social_file")
    op.drop_table("meta")
    with op.batch_alter_table("member_line", schema=None) as batch_op:
        batch_op.drop_index("ux_member_line_insz_member")
    op.drop_table("member_line")
    with op.batch_alter_table("issued_attestation", schema=None) as batch_op:
        batch_op.drop_index("ix_issued_attestation_insz")
    op.drop_table("issued_attestation")
