"""network tables: sector, capacity, institution, person_line

Revision ID: hub_0001
Revises:
Create Date: 2026-11-28 12:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hub_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sector",
        sa.Column("code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("institution_type", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("short_name", sa.String(length=64), nullable=False),
        sa.Column("short_name_fr", sa.String(length=64), nullable=False),
        sa.Column("name_nl", sa.Text(), nullable=False),
        sa.Column("name_fr", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", "institution_type", name=op.f("pk_sector")),
    )
    op.create_table(
        "capacity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sector", sa.Integer(), nullable=True, comment="NULL = valid in every sector ('*')"),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("label_fr", sa.Text(), nullable=False),
        sa.Column("label_nl", sa.Text(), nullable=False),
        sa.Column("label_de", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity")),
    )
    op.create_index("ix_capacity_sector_code", "capacity", ["sector", "code"], unique=False)
    op.create_table(
        "institution",
        sa.Column("kbo", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("sector", sa.Integer(), nullable=False),
        sa.Column("institution_type", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=True),
        sa.Column("endpoint", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("kbo", name=op.f("pk_institution")),
    )
    op.create_table(
        "person_line",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("insz", sa.String(length=11), nullable=False),
        sa.Column(
            "institution",
            sa.String(length=10),
            nullable=False,
            comment="KBO of the institution that knows the person",
        ),
        sa.Column("sector", sa.Integer(), nullable=False),
        sa.Column("institution_type", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=True),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=True, comment="NULL = still active"),
        sa.Column("last_change", sa.DateTime(timezone=True), nullable=False, comment="UTC"),
        sa.Column("register", sa.String(length=9), nullable=False),
        sa.CheckConstraint("register IN ('PRIMARY', 'SECONDARY')", name=op.f("ck_person_line_register")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_line")),
    )
    op.create_index("ix_person_line_insz_institution", "person_line", ["insz", "institution"], unique=False)
    op.create_index("ix_person_line_insz_sector", "person_line", ["insz", "sector"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_person_line_insz_sector", table_name="person_line")
    op.drop_index("ix_person_line_insz_institution", table_name="person_line")
    op.drop_table("person_line")
    op.drop_table("institution")
    op.drop_index("ix_capacity_sector_code", table_name="capacity")
    op.drop_table("capacity")
    op.drop_table("sector")
