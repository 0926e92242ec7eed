"""Tables of a social source's database (one schema, component ``social``, for every social service).

* ``social_file`` — the files (dossiers) the institution holds: one row per file on a person, of a kind
  (``sources.yaml``), held by ``member`` (the KBO of the holding institution: the fund of a child-benefit
  file, the member of a secondary network), with the capacity code of the persons directory and a period
  (inclusive; ``end`` NULL = open). ``attrs`` holds the kind's attributes (a JSON object, no floats). ``key``
  (optional) is the sender's name for the file — a Dimona period id, an employer/quarter/INSZ triple, a
  declaration id — unique per kind and holder, so that a repeated delivery finds the file it made before.
* ``cancelled_file`` — the keys of files removed by a cancel (a Dimona Cancel), with the answer given, so a
  repeated cancel is answered the same and a late PUT of a cancelled key is refused.
* ``issued_attestation`` — every electronic attestation issued, with its signed token (ListOfAttestations).
* ``change_outbox`` — the changes of status this source publishes to the network (a file opened, amended,
  closed, cancelled), written in the same transaction as the file, sent by the publisher at least once.
* ``member_line`` — managing services only: which member holds a file on which INSZ, for which span.
* ``meta`` — key/value bookkeeping (what the database was seeded with).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core import tables
from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of
from kruispunt.sources.changes import outbox_table

metadata = new_metadata()

_Json = JSON().with_variant(JSONB(), "postgresql")


class SocialBase(ComponentBase):
    """Declarative base of the social component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class SocialFile(SocialBase):
    __tablename__ = "social_file"
    __table_args__ = (
        Index("ix_social_file_insz", "insz", "start"),
        Index("ux_social_file_kind_member_key", "kind", "member", "key", unique=True),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    insz: Mapped[str] = mapped_column(String(11))
    kind: Mapped[str] = mapped_column(String(64))
    member: Mapped[str] = mapped_column(String(10), comment="KBO of the institution holding the file")
    capacity: Mapped[int] = mapped_column(SmallInteger, comment="capacity code in the persons directory")
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date, comment="inclusive; NULL = open")
    attrs: Mapped[dict[str, Any]] = mapped_column(_Json)
    key: Mapped[str | None] = mapped_column(
        String(128), comment="the sender's key of the file (unique per kind and holder); NULL = none"
    )


class CancelledFile(SocialBase):
    """A file removed by a cancel: its key and the answer given (a repeated cancel gets it again)."""

    __tablename__ = "cancelled_file"
    __table_args__ = (Index("ux_cancelled_file_kind_member_key", "kind", "member", "key", unique=True),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    member: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(128))
    insz: Mapped[str] = mapped_column(String(11))
    cancelled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reply: Mapped[dict[str, Any]] = mapped_column(_Json, comment="the answer to the cancel")


class IssuedAttestation(SocialBase):
    __tablename__ = "issued_attestation"
    __table_args__ = (Index("ix_issued_attestation_insz", "insz", "issued_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    insz: Mapped[str] = mapped_column(String(11))
    type: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(10))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    legal_basis: Mapped[str] = mapped_column(Text)
    status: Mapped[dict[str, Any]] = mapped_column(_Json)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    token: Mapped[str] = mapped_column(Text, comment="compact JWS signed by the issuer")


class MemberLine(SocialBase):
    """Managing services: the member directory (one span per person and member)."""

    __tablename__ = "member_line"
    __table_args__ = (Index("ux_member_line_insz_member", "insz", "member", unique=True),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    insz: Mapped[str] = mapped_column(String(11))
    member: Mapped[str] = mapped_column(String(10))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date)


file_table: Table = table_of(SocialFile)
attestation_table: Table = table_of(IssuedAttestation)
member_line_table: Table = table_of(MemberLine)
cancelled_table: Table = table_of(CancelledFile)
change_outbox_table: Table = outbox_table(metadata)
meta_table: Table = tables.meta_table(metadata)
