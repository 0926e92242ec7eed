"""The NATS relay keeps one position per stream instead of a state on every delivery, and a map of the
messages it published.

``relay_position`` (stream → last delivery id published): the relay advanced by updating each delivery's
``state`` from ``pending`` to ``relayed``, which rewrote a row and an index entry per delivery; one number
per batch is enough, because the relay publishes in ``id`` order. The position of the default stream is
taken from the deliveries already relayed.

``relayed_message`` (stream, stream sequence → recipient, first and last delivery id): the relay publishes
one message per recipient carrying many deliveries (one message per delivery was the transport's cost), and
a recipient's cursor is the delivery id on both transports; a reader starts at the message holding it.
Messages published before this revision (one delivery each, the stream sequence as cursor) are not read
by it: a NATS deployment upgrading starts a new stream (``KRUISPUNT_NATS_STREAM``).

Revision ID: mutations_0002
Revises: mutations_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "mutations_0002"
down_revision: str | None = "mutations_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_STREAM = "KRUISPUNT_CHANGES"


def upgrade() -> None:
    op.create_table(
        "relay_position",
        sa.Column("stream", sa.String(length=64), nullable=False, comment="the JetStream stream"),
        sa.Column(
            "position",
            sa.BigInteger(),
            nullable=False,
            comment="last delivery id published and acknowledged",
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_relay_position")),
    )
    op.create_table(
        "relayed_message",
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recipient_kbo", sa.String(length=10), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False, comment="first delivery id in the message"),
        sa.Column("last_id", sa.BigInteger(), nullable=False, comment="last delivery id in the message"),
        sa.PrimaryKeyConstraint("stream", "stream_seq", name=op.f("pk_relayed_message")),
    )
    op.create_index(
        "ix_relayed_message_recipient",
        "relayed_message",
        ["stream", "recipient_kbo", "last_id"],
        unique=False,
    )
    op.get_bind().execute(
        sa.text(
            "INSERT INTO relay_position (stream, position, updated_at) "
            "SELECT :stream, MAX(id), CURRENT_TIMESTAMP FROM delivery "
            "WHERE state = 'relayed' HAVING MAX(id) IS NOT NULL"
        ),
        {"stream": DEFAULT_STREAM},
    )
    with op.batch_alter_table("delivery") as batch:
        batch.drop_index("ix_delivery_state")
        batch.drop_column("state")


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(
            sa.Column(
                "state",
                sa.String(length=8),
                nullable=False,
                server_default="pending",
                comment="pending | relayed (on NATS)",
            )
        )
        batch.create_index("ix_delivery_state", ["state", "id"], unique=False)
    op.get_bind().execute(
        sa.text(
            "UPDATE delivery SET state = 'relayed' WHERE id <= "
            "(SELECT position FROM relay_position WHERE stream = :stream)"
        ),
        {"stream": DEFAULT_STREAM},
    )
    op.drop_index("ix_relayed_message_recipient", table_name="relayed_message")
    op.drop_table("relayed_message")
    op.drop_table("relay_position")
