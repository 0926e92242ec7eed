"""Tables of the trusted third party's own database (component ``coding``); the warehouse never reads it.

* ``project`` — one research or statistics project, with its own secret key: codes are an HMAC of the INSZ
  under that key, so they link records within the project and never across projects.
* ``code_link`` — the code given to each INSZ in a project: what a decoding looks up (an HMAC cannot be
  inverted), kept here only.
* ``decoding_approval`` — a decision that allows decoding in a project (its reference, purpose, expiry).
* ``decoding`` — every decoding asked for, granted or refused, with who asked and why.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, Index, LargeBinary, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core import tables
from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of

metadata = new_metadata()


class CodingBase(ComponentBase):
    """Declarative base of the coding component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class ProjectRow(CodingBase):
    __tablename__ = "project"

    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(Text)
    key: Mapped[bytes] = mapped_column(LargeBinary(64), comment="HMAC key of the project's codes")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CodeLinkRow(CodingBase):
    __tablename__ = "code_link"

    project: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    insz: Mapped[str] = mapped_column(String(11))


class DecodingApprovalRow(CodingBase):
    __tablename__ = "decoding_approval"

    reference: Mapped[str] = mapped_column(String(32), primary_key=True, comment="the deliberation id")
    project: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(Text)
    expires: Mapped[dt.date] = mapped_column(Date, comment="last day decoding is allowed")


class DecodingRow(CodingBase):
    __tablename__ = "decoding"
    __table_args__ = (Index("ix_decoding_project", "project", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    approval: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32), comment="granted, or the refusal's code")
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


project_table: Table = table_of(ProjectRow)
code_link_table: Table = table_of(CodeLinkRow)
decoding_approval_table: Table = table_of(DecodingApprovalRow)
decoding_table: Table = table_of(DecodingRow)
meta_table: Table = tables.meta_table(metadata)
