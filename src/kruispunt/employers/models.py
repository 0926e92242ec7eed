"""Tables of the employer-declarations database (component ``employers``): the RSZ's own records of what
employers declared — collected once, then reused by every institution through the network.

* ``employer`` — the employer repertory: KBO and RSZ numbers, name, employer category, joint committee.
* ``mandate`` — a social secretariat (role 11) or service provider (12) allowed to declare for an employer.
* ``submission`` — one receipt per thing sent (a JSON declaration, an XML file): ticket, channel, declarant,
  what the acknowledgement of receipt said, counts; the notification is built from it and its declarations.
* ``declaration`` — one declaration (Dimona In/Out/Update/Cancel, daily registration, DmfA, DMFAUPD, a DRS
  scenario), with its result (A/W/B), its anomalies and the body as received (normalised JSON).
* ``dimona_period`` — the Dimona periods (12-digit id with check digits) as they stand after every accepted
  declaration; each change is a declaration, so the history is the declarations of the period.
* ``dmfa_declaration`` / ``dmfa_worker_record`` — the accepted DmfA per employer and quarter, one version
  per original or modification (a DMFAUPD adds a version and marks the previous one superseded).
* ``outbox`` — what must still reach another service (the RSZ source, the hub), written in the same
  transaction as the declaration, delivered at least once and idempotently by a worker.
* ``meta`` — key/value bookkeeping.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core import tables
from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of

metadata = new_metadata()

_Json = JSON().with_variant(JSONB(), "postgresql")


class EmployersBase(ComponentBase):
    """Declarative base of the employers component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class Employer(EmployersBase):
    __tablename__ = "employer"
    __table_args__ = (Index("ux_employer_rsz", "rsz", unique=True),)

    kbo: Mapped[str] = mapped_column(String(10), primary_key=True)
    rsz: Mapped[str] = mapped_column(String(10), comment="RSZ employer number (definitive or provisional)")
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(3), comment="employer category (annex 27)")
    joint_committee: Mapped[str] = mapped_column(String(12))
    nace: Mapped[str | None] = mapped_column(String(5))
    since: Mapped[dt.date] = mapped_column(Date)


class Mandate(EmployersBase):
    __tablename__ = "mandate"
    __table_args__ = (Index("ix_mandate_employer", "employer_kbo", "declarant_kbo"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    employer_kbo: Mapped[str] = mapped_column(String(10))
    declarant_kbo: Mapped[str] = mapped_column(String(10))
    role: Mapped[int] = mapped_column(
        SmallInteger, comment="annex 39: 11 social secretariat, 12 service provider"
    )
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date, comment="inclusive; NULL = open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Submission(EmployersBase):
    __tablename__ = "submission"
    __table_args__ = (Index("ix_submission_declarant", "declarant_kbo", "received_at"),)

    ticket: Mapped[str] = mapped_column(String(36), primary_key=True, comment="assigned by social security")
    channel: Mapped[str] = mapped_column(String(8), comment="rest | xml")
    form: Mapped[str] = mapped_column(String(16), comment="annex 11: DIMONA, DMFA, DMFAUPD, WECH001 …")
    declarant_kbo: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    result_code: Mapped[int] = mapped_column(SmallInteger, comment="zone 00107: 0 NOK, 1 OK")
    errors: Mapped[list[Any]] = mapped_column(_Json, comment="file-level refusal (schema, syntax)")
    declarations: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)


class Declaration(EmployersBase):
    __tablename__ = "declaration"
    __table_args__ = (
        Index("ix_declaration_submission", "ticket", "sequence"),
        Index("ix_declaration_employer", "employer_kbo", "received_at"),
        Index("ix_declaration_insz", "insz"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    ticket: Mapped[str] = mapped_column(String(36), ForeignKey("submission.ticket"))
    sequence: Mapped[int] = mapped_column(Integer, comment="position in the submission (1 for a single one)")
    kind: Mapped[str] = mapped_column(String(24), comment="DimonaIn, DimonaOut, … DMFA, DMFAUPD, WECH001 …")
    employer_kbo: Mapped[str | None] = mapped_column(String(10))
    declarant_kbo: Mapped[str] = mapped_column(String(10))
    insz: Mapped[str | None] = mapped_column(String(11))
    period_id: Mapped[str | None] = mapped_column(String(12), comment="the Dimona period concerned")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    result: Mapped[str] = mapped_column(String(1), comment="A accepted, W accepted with anomalies, B refused")
    anomalies: Mapped[list[Any]] = mapped_column(_Json)
    body: Mapped[dict[str, Any]] = mapped_column(_Json, comment="the declaration as received (normalised)")
    delivery: Mapped[dict[str, Any] | None] = mapped_column(
        _Json, comment="where the declaration went through the network, and how it went"
    )


class DimonaPeriod(EmployersBase):
    __tablename__ = "dimona_period"
    __table_args__ = (
        Index("ix_dimona_period_worker", "employer_kbo", "insz", "worker_type", "start"),
        Index("ix_dimona_period_insz", "insz", "start"),
    )

    id: Mapped[str] = mapped_column(String(12), primary_key=True, comment="12 digits incl. 2 check digits")
    employer_kbo: Mapped[str] = mapped_column(String(10))
    insz: Mapped[str] = mapped_column(String(11))
    worker_type: Mapped[str] = mapped_column(String(3))
    joint_committee: Mapped[str] = mapped_column(String(12))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date, comment="inclusive; NULL = open-ended")
    start_hour: Mapped[str | None] = mapped_column(String(4))
    end_hour: Mapped[str | None] = mapped_column(String(4))
    planned_hours: Mapped[int | None] = mapped_column(Integer)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False, comment="declared by an RSZ agent")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    parent_id: Mapped[str | None] = mapped_column(
        String(12), comment="a daily registration (01085): the Dimona period it belongs to; NULL = a period"
    )


class DmfaDeclaration(EmployersBase):
    __tablename__ = "dmfa_declaration"
    __table_args__ = (Index("ix_dmfa_employer_quarter", "employer_kbo", "quarter", "version"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    declaration_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("declaration.id"))
    employer_kbo: Mapped[str] = mapped_column(String(10))
    rsz: Mapped[str] = mapped_column(String(10))
    quarter: Mapped[int] = mapped_column(Integer, comment="YYYYQ, e.g. 20243")
    version: Mapped[int] = mapped_column(Integer, comment="1 = original, 2… = modifications (DMFAUPD)")
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    net_owed_cents: Mapped[int] = mapped_column(BigInteger)
    computed_owed_cents: Mapped[int] = mapped_column(BigInteger)
    worker_records: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class DmfaWorkerRecord(EmployersBase):
    __tablename__ = "dmfa_worker_record"
    __table_args__ = (
        Index("ix_dmfa_worker_record_insz", "insz", "quarter"),
        Index("ix_dmfa_worker_record_dmfa", "dmfa_id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    dmfa_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("dmfa_declaration.id"))
    employer_kbo: Mapped[str] = mapped_column(String(10))
    quarter: Mapped[int] = mapped_column(Integer)
    insz: Mapped[str] = mapped_column(String(11))
    employer_class: Mapped[str] = mapped_column(String(3))
    worker_code: Mapped[str] = mapped_column(String(3))
    gross_cents: Mapped[int] = mapped_column(BigInteger, comment="sum of the remunerations (eurocents)")
    days: Mapped[int] = mapped_column(Integer, comment="days of the services, in hundredths")
    hours: Mapped[int] = mapped_column(Integer, comment="hours of the services, in hundredths")
    tree: Mapped[dict[str, Any]] = mapped_column(
        _Json, comment="the worker record as declared: occupations → services, remunerations; contributions"
    )


class Outbox(EmployersBase):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    declaration_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("declaration.id"))
    target: Mapped[str] = mapped_column(String(32), comment="rsz_file | rsz_close | hub_message")
    key: Mapped[str] = mapped_column(String(64), comment="idempotency key of the delivery")
    payload: Mapped[dict[str, Any]] = mapped_column(_Json)
    state: Mapped[str] = mapped_column(String(8), comment="pending | done | dead")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(_Json)


employer_table: Table = table_of(Employer)
mandate_table: Table = table_of(Mandate)
submission_table: Table = table_of(Submission)
declaration_table: Table = table_of(Declaration)
dimona_period_table: Table = table_of(DimonaPeriod)
dmfa_declaration_table: Table = table_of(DmfaDeclaration)
dmfa_worker_record_table: Table = table_of(DmfaWorkerRecord)
outbox_table: Table = table_of(Outbox)
meta_table: Table = tables.meta_table(metadata)
