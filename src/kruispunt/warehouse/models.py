"""Tables of the warehouse's own database (component ``warehouse``): the research requests.

* ``research_request`` — one request for an extract (who, for what, which variables, quarters and population,
  which tier) and where it stands in the workflow (:mod:`kruispunt.warehouse.requests`).
* ``request_event`` — every step of a request: who did it, when, from which state to which, and what.
  The researcher who filed the request sees all of it.
* ``extract_delivery`` — the extract file produced for a request: its digest, when it was delivered (once)
  and when it was destroyed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core import tables
from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of

metadata = new_metadata()


class WarehouseBase(ComponentBase):
    """Declarative base of the warehouse component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class ResearchRequestRow(WarehouseBase):
    __tablename__ = "research_request"
    __table_args__ = (Index("ix_research_request_researcher", "researcher", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    researcher: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    population: Mapped[str] = mapped_column(Text, comment="JSON filter spec")
    variables: Mapped[str] = mapped_column(Text, comment="JSON list of PERSON_QUARTER columns")
    quarters: Mapped[str] = mapped_column(Text, comment="JSON list of quarters")
    tier: Mapped[str] = mapped_column(String(16), comment="anonymous or coded")
    state: Mapped[str] = mapped_column(String(16))
    project: Mapped[str] = mapped_column(String(64), comment="the coding project of the TTP (coded tier)")
    deliberation: Mapped[str | None] = mapped_column(String(32))
    conditions: Mapped[str | None] = mapped_column(Text)
    expires: Mapped[dt.date | None] = mapped_column(
        Date, comment="last day the extract may be delivered/kept"
    )
    filed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RequestEventRow(WarehouseBase):
    __tablename__ = "request_event"
    __table_args__ = (Index("ix_request_event_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("research_request.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)


class ExtractDeliveryRow(WarehouseBase):
    __tablename__ = "extract_delivery"

    request_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("research_request.id"), primary_key=True)
    path: Mapped[str] = mapped_column(Text, comment="the extract file")
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    produced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[dt.date] = mapped_column(Date)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_to: Mapped[str | None] = mapped_column(String(64))
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


research_request_table: Table = table_of(ResearchRequestRow)
request_event_table: Table = table_of(RequestEventRow)
extract_delivery_table: Table = table_of(ExtractDeliveryRow)
meta_table: Table = tables.meta_table(metadata)
