"""Tables of the rights database (component ``rights``): what the network told the rights engine, and what
the engine concluded — never the content of the sources' files, only who holds which status when.

* ``status_period`` — one file of a source that makes its holder hold a harmonised status, keyed by
  (source, kind, file key) as the source names it; ``seq`` is the network order of the last change applied,
  so an older change arriving late never overwrites a newer one.
* ``household_member`` — who lives in which household (the same domicile), from ``since`` to ``until``; a
  move closes one line and opens another, so a right extended to a household follows the membership.
* ``person`` — what is known of a person beyond their statuses: death date, the INSZ that replaced theirs.
* ``energy_customer`` — the customer files the energy suppliers hand to FOD Economie (EAN or customer id).
* ``entitlement`` — one period of a derived right of one person, with the ground it rests on and a full
  explanation (every status behind the period, through whom).
* ``entitlement_event`` — what changed for a granting body (granted / changed / ended); the id is the cursor.
* ``applied_change`` — the idempotency keys of the changes applied, so each is applied exactly once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Index, String, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of

metadata = new_metadata()

_Json = JSON().with_variant(JSONB(), "postgresql")


class RightsBase(ComponentBase):
    """Declarative base of the rights component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class StatusPeriod(RightsBase):
    __tablename__ = "status_period"
    __table_args__ = (
        Index("ux_status_period_file", "source_kbo", "kind", "file_key", unique=True),
        Index("ix_status_period_insz", "insz", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    insz: Mapped[str] = mapped_column(String(11))
    status: Mapped[str] = mapped_column(String(64), comment="harmonised status code (statuses.yaml)")
    source_kbo: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(64), comment="the kind of file at the source")
    file_key: Mapped[str] = mapped_column(String(64), comment="the source's key of the file")
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date, comment="inclusive; NULL = open")
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False, comment="the file never held")
    seq: Mapped[int | None] = mapped_column(BigInteger, comment="network seq of the last change applied")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class HouseholdMember(RightsBase):
    __tablename__ = "household_member"
    __table_args__ = (
        Index("ix_household_member_insz", "insz", "since"),
        Index("ix_household_member_household", "household_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    household_id: Mapped[int] = mapped_column(BigInteger)
    insz: Mapped[str] = mapped_column(String(11))
    head: Mapped[bool] = mapped_column(Boolean, default=False, comment="reference person of the household")
    since: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date, comment="inclusive; NULL = still a member")


class Person(RightsBase):
    __tablename__ = "person"

    insz: Mapped[str] = mapped_column(String(11), primary_key=True)
    death_date: Mapped[dt.date | None] = mapped_column(Date)
    replaced_by: Mapped[str | None] = mapped_column(String(11), comment="the INSZ that replaced this one")


class EnergyCustomer(RightsBase):
    __tablename__ = "energy_customer"
    __table_args__ = (
        Index("ix_energy_customer_insz", "insz"),
        Index("ix_energy_customer_supplier", "supplier_kbo"),
    )

    customer_id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="EAN or customer id")
    insz: Mapped[str] = mapped_column(String(11))
    supplier_kbo: Mapped[str] = mapped_column(String(10))
    since: Mapped[dt.date] = mapped_column(Date)


class Entitlement(RightsBase):
    __tablename__ = "entitlement"
    __table_args__ = (
        Index("ix_entitlement_insz", "insz", "right"),
        Index("ix_entitlement_right", "right", "start"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    right: Mapped[str] = mapped_column(String(64))
    insz: Mapped[str] = mapped_column(String(11))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date, comment="inclusive; NULL = open")
    via_insz: Mapped[str] = mapped_column(String(11), comment="the status holder: the person or a member")
    status: Mapped[str] = mapped_column(String(64), comment="the first ground: its harmonised status")
    source_kbo: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(
        String(64), comment="start rule / end rule, e.g. quarter_start/status_end"
    )
    explanation: Mapped[list[Any]] = mapped_column(_Json, comment="every ground of the period")
    computed_on: Mapped[dt.date] = mapped_column(Date)


class EntitlementEvent(RightsBase):
    __tablename__ = "entitlement_event"
    __table_args__ = (Index("ix_entitlement_event_body", "body_kbo", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    right: Mapped[str] = mapped_column(String(64))
    body_kbo: Mapped[str] = mapped_column(String(10))
    insz: Mapped[str] = mapped_column(String(11))
    event: Mapped[str] = mapped_column(String(8), comment="granted | changed | ended")
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(
        Date, comment="ended with end < start: never held (withdrawn)"
    )
    via_insz: Mapped[str | None] = mapped_column(String(11))
    caused_by_seq: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AppliedChange(RightsBase):
    __tablename__ = "applied_change"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    change_type: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16), comment="applied | ignored | stale")
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


status_period_table: Table = table_of(StatusPeriod)
household_member_table: Table = table_of(HouseholdMember)
person_table: Table = table_of(Person)
energy_customer_table: Table = table_of(EnergyCustomer)
entitlement_table: Table = table_of(Entitlement)
entitlement_event_table: Table = table_of(EntitlementEvent)
applied_change_table: Table = table_of(AppliedChange)
