"""Tables of the portal's own database (component ``portal``): the enterprises' access management.

Why in the portal: who may act for an enterprise in the portal is the portal's business (socialsecurity.be's
"Toegangsbeheer voor ondernemingen" / UMOE), not the employers service's; the employers service only knows
which enterprise declares (and checks its mandates).

* ``access_manager`` — who manages the accesses of an enterprise: the main access manager (appointed by a
  legal representative) and the access managers (appointed by a main access manager). Ended, never deleted.
* ``user_role`` — a person may use one group of services (``dimona``, ``dmfa``, ``drs``, ``mandates``) for
  an enterprise, from ``start`` to ``end``; granted by an access manager. Revoked, never deleted.
* ``access_event`` — every change and every refusal: who did what, when, for which enterprise and person.
* ``portal_submission`` — the declarations sent through the portal, so the enterprise finds its receipts
  and notifications again (the employers service keeps the declarations themselves).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of

metadata = new_metadata()


class PortalBase(ComponentBase):
    """Declarative base of the portal component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class AccessManagerRow(PortalBase):
    __tablename__ = "access_manager"
    __table_args__ = (Index("ix_access_manager_enterprise", "enterprise_kbo", "insz"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    enterprise_kbo: Mapped[str] = mapped_column(String(10))
    insz: Mapped[str] = mapped_column(String(11))
    main: Mapped[bool] = mapped_column(Boolean, comment="main access manager (HTB/GAP) or access manager")
    appointed_by: Mapped[str] = mapped_column(String(11))
    appointed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[str | None] = mapped_column(String(11))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UserRoleRow(PortalBase):
    __tablename__ = "user_role"
    __table_args__ = (Index("ix_user_role_enterprise", "enterprise_kbo", "insz"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    enterprise_kbo: Mapped[str] = mapped_column(String(10))
    insz: Mapped[str] = mapped_column(String(11))
    role: Mapped[str] = mapped_column(String(16))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date)
    granted_by: Mapped[str] = mapped_column(String(11))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(11))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AccessEventRow(PortalBase):
    __tablename__ = "access_event"
    __table_args__ = (Index("ix_access_event_enterprise", "enterprise_kbo", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    enterprise_kbo: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(64), comment="the session's subject")
    action: Mapped[str] = mapped_column(String(32))
    subject_insz: Mapped[str | None] = mapped_column(String(11))
    outcome: Mapped[str] = mapped_column(String(16), comment="done or refused")
    detail: Mapped[str] = mapped_column(Text)


class PortalSubmissionRow(PortalBase):
    __tablename__ = "portal_submission"
    __table_args__ = (Index("ix_portal_submission_enterprise", "enterprise_kbo", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    enterprise_kbo: Mapped[str] = mapped_column(String(10), comment="the enterprise acted for (declarant)")
    employer_kbo: Mapped[str | None] = mapped_column(String(10))
    by_insz: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    ticket: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(8))


access_manager_table: Table = table_of(AccessManagerRow)
user_role_table: Table = table_of(UserRoleRow)
access_event_table: Table = table_of(AccessEventRow)
portal_submission_table: Table = table_of(PortalSubmissionRow)
