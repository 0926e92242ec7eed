"""Tables of the change-notification database (component ``mutations``).

* ``change`` — every change received, once per (source, change id), numbered by ``seq`` in the order
  received: the network's order, which every recipient sees per person.
* ``delivery`` — the outbox: one row per (change, recipient), written in the same transaction as the change.
  Its ``id`` is the recipient's cursor on the database transport (increasing per recipient in ``seq``
  order); ``key`` is the idempotency key the recipient applies once. On the NATS transport the relay copies
  each row to JetStream and marks it ``relayed``.
* ``recipient`` — one row per institution that ever received a change: how it takes them (``pull`` from
  its feed, or ``push`` to a signed HTTP callback), and how far it has acknowledged (``acked``).
* ``relay_position`` — on the NATS transport, per stream, the last delivery ``id`` copied to it: the relay
  moves one number forward per batch instead of updating every delivery row.
* ``relayed_message`` — on the NATS transport, each message published: its stream sequence and the range of
  one recipient's delivery ids it carries, so that a reader can start at the message holding a cursor.
* ``dead_letter`` — deliveries a push recipient refused for good, or that failed every retry: kept with
  the reason, re-sent on request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, Index, Integer, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core import tables
from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of

metadata = new_metadata()

_Json = JSON().with_variant(JSONB(), "postgresql")


class MutationsBase(ComponentBase):
    """Declarative base of the mutations component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class ChangeRow(MutationsBase):
    __tablename__ = "change"
    __table_args__ = (
        Index("ux_change_source_id", "source_kbo", "change_id", unique=True),
        Index("ix_change_insz", "insz", "seq"),
    )

    seq: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    source_kbo: Mapped[str] = mapped_column(String(10))
    change_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    insz: Mapped[str] = mapped_column(String(11))
    effective: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[dict[str, Any]] = mapped_column(_Json, comment="the change as published (normalised JSON)")
    recipients: Mapped[int] = mapped_column(Integer, comment="how many deliveries the fan-out wrote")


class DeliveryRow(MutationsBase):
    __tablename__ = "delivery"
    __table_args__ = (
        # unique per (change, recipient) — the key says the same; this index grows at its end (seq order)
        Index("ux_delivery_change_recipient", "change_seq", "recipient_kbo", unique=True),
        Index("ix_delivery_recipient", "recipient_kbo", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    change_seq: Mapped[int] = mapped_column(BigInteger)
    recipient_kbo: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(40), comment="<seq>:<recipient>: apply once")
    capacity: Mapped[int | None] = mapped_column(Integer)
    deliberation: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RecipientRow(MutationsBase):
    __tablename__ = "recipient"

    kbo: Mapped[str] = mapped_column(String(10), primary_key=True)
    mode: Mapped[str] = mapped_column(String(4), comment="pull | push")
    callback_url: Mapped[str | None] = mapped_column(String(512))
    secret: Mapped[str | None] = mapped_column(String(128), comment="HMAC key of the push signatures")
    acked: Mapped[int] = mapped_column(BigInteger, default=0, comment="cursor acknowledged so far")
    acked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, comment="failed pushes of the current head")
    retries: Mapped[int] = mapped_column(BigInteger, default=0, comment="failed pushes, all time")
    next_try_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class RelayPositionRow(MutationsBase):
    __tablename__ = "relay_position"

    stream: Mapped[str] = mapped_column(String(64), primary_key=True, comment="the JetStream stream")
    position: Mapped[int] = mapped_column(BigInteger, comment="last delivery id published and acknowledged")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RelayedMessageRow(MutationsBase):
    __tablename__ = "relayed_message"
    __table_args__ = (Index("ix_relayed_message_recipient", "stream", "recipient_kbo", "last_id"),)

    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recipient_kbo: Mapped[str] = mapped_column(String(10))
    first_id: Mapped[int] = mapped_column(BigInteger, comment="first delivery id in the message")
    last_id: Mapped[int] = mapped_column(BigInteger, comment="last delivery id in the message")


class DeadLetterRow(MutationsBase):
    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_recipient", "recipient_kbo", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    recipient_kbo: Mapped[str] = mapped_column(String(10))
    cursor: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(40))
    change_seq: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


change_table: Table = table_of(ChangeRow)
delivery_table: Table = table_of(DeliveryRow)
recipient_table: Table = table_of(RecipientRow)
dead_letter_table: Table = table_of(DeadLetterRow)
relay_position_table: Table = table_of(RelayPositionRow)
relayed_message_table: Table = table_of(RelayedMessageRow)
meta_table: Table = tables.meta_table(metadata)
