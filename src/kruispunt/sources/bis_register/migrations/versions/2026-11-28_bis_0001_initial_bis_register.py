"""Initial bis register.

Tables of the bis register: person (with the number prefix/counter used to issue bis numbers),
address history, meta.

Revision ID: bis_0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bis_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.create_table(
        "person",
        sa.Column("insz", sa.String(length=11), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("first_names", sa.String(length=150), nullable=False),
        sa.Column(
            "birth_date",
            sa.String(length=10),
            nullable=False,
            comment="YYYY-MM-DD, 00 for an unknown month/day",
        ),
        sa.Column("birth_year", sa.SmallInteger(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=True, comment="M, F or NULL (unknown at assignment)"),
        sa.Column("nationality", sa.String(length=2), nullable=True, comment="ISO 3166-1 alpha-2"),
        sa.Column("civil_state", sa.SmallInteger(), nullable=True, comment="t_CivilStateCode"),
        sa.Column("death_date", sa.Date(), nullable=True),
        sa.Column("last_name_key", sa.String(length=32), nullable=False, comment="phonetic key of last_name"),
        sa.Column(
            "last_name_norm",
            sa.String(length=100),
            nullable=False,
            comment="last_name without case/accents/spaces",
        ),
        sa.Column("sis_card_number", sa.String(length=10), nullable=True),
        sa.Column("identity_card_number", sa.String(length=12), nullable=True),
        sa.Column(
            "number_prefix", sa.String(length=6), nullable=False, comment="first six digits of the bis number"
        ),
        sa.Column("counter", sa.SmallInteger(), nullable=False, comment="digits 7-9 of the bis number"),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True, comment="NULL = loaded"),
        sa.PrimaryKeyConstraint("insz", name=op.f("pk_person")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index("ix_person_number_prefix", ["number_prefix", "counter"], unique=False)
        batch_op.create_index("ix_person_phonetic", ["last_name_key", "birth_year"], unique=False)
        batch_op.create_index("ux_person_identity_card_number", ["identity_card_number"], unique=True)
        batch_op.create_index("ux_person_sis_card_number", ["sis_card_number"], unique=True)

    op.create_table(
        "address",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("insz", sa.String(length=11), nullable=False),
        sa.Column("street", sa.String(length=200), nullable=False),
        sa.Column("house_number", sa.String(length=20), nullable=False),
        sa.Column("postal_code", sa.String(length=12), nullable=False),
        sa.Column("municipality", sa.String(length=100), nullable=False),
        sa.Column("nis_code", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["insz"], ["person.insz"], name=op.f("fk_address_insz_person"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address")),
    )
    with op.batch_alter_table("address", schema=None) as batch_op:
        batch_op.create_index("ix_address_insz_start", ["insz", "start_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("address", schema=None) as batch_op:
        batch_op.drop_index("ix_address_insz_start")

    op.drop_table("address")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ux_person_sis_card_number")
        batch_op.drop_index("ux_person_identity_card_number")
        batch_op.drop_index("ix_person_phonetic")
        batch_op.drop_index("ix_person_number_prefix")

    op.drop_table("person")
    op.drop_table("meta")
