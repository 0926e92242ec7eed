"""Tables of the bis register database.

Same person/address shape as the National Register (so both answer ``identify_person`` alike), plus what
number allocation needs: ``number_prefix`` (the first six digits: year, month + 20/40, day) and ``counter``.
A new number takes the next free counter for its prefix; the primary key on ``insz`` makes a concurrent
duplicate fail, and the issuer retries. A bis number ends when it is replaced (the person got a
national-register number, or a duplicate is merged: ``replaced_by``) or cancelled (given in error);
``change_outbox`` holds those changes for the network (:mod:`kruispunt.sources.changes`), written in the same
transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core import tables
from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of
from kruispunt.sources.changes import outbox_table

metadata = new_metadata()


class BisRegisterBase(ComponentBase):
    """Declarative base of the bis_register component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class BisPerson(BisRegisterBase):
    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_phonetic", "last_name_key", "birth_year"),
        # unique indexes rather than constraints: a bulk load into an empty table drops and rebuilds them
        Index("ux_person_sis_card_number", "sis_card_number", unique=True),
        Index("ux_person_identity_card_number", "identity_card_number", unique=True),
        Index("ix_person_number_prefix", "number_prefix", "counter"),
    )

    insz: Mapped[str] = mapped_column(String(11), primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_names: Mapped[str] = mapped_column(String(150))
    birth_date: Mapped[str] = mapped_column(String(10), comment="YYYY-MM-DD, 00 for an unknown month/day")
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    sex: Mapped[str | None] = mapped_column(String(1), comment="M, F or NULL (unknown at assignment)")
    nationality: Mapped[str | None] = mapped_column(String(2), comment="ISO 3166-1 alpha-2")
    civil_state: Mapped[int | None] = mapped_column(SmallInteger, comment="t_CivilStateCode")
    death_date: Mapped[dt.date | None] = mapped_column(Date)
    last_name_key: Mapped[str] = mapped_column(String(32), comment="phonetic key of last_name")
    last_name_norm: Mapped[str] = mapped_column(String(100), comment="last_name without case/accents/spaces")
    sis_card_number: Mapped[str | None] = mapped_column(String(10))
    identity_card_number: Mapped[str | None] = mapped_column(String(12))
    number_prefix: Mapped[str] = mapped_column(String(6), comment="first six digits of the bis number")
    counter: Mapped[int] = mapped_column(SmallInteger, comment="digits 7-9 of the bis number")
    issued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), comment="NULL = loaded")
    replaced_by: Mapped[str | None] = mapped_column(String(11), comment="the INSZ that replaces this number")
    replaced_on: Mapped[dt.date | None] = mapped_column(Date)
    cancelled_on: Mapped[dt.date | None] = mapped_column(Date, comment="the number was given in error")


class BisAddress(BisRegisterBase):
    """Addresses (mostly abroad) over time; ``end_date`` NULL = current."""

    __tablename__ = "address"
    __table_args__ = (Index("ix_address_insz_start", "insz", "start_date"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    insz: Mapped[str] = mapped_column(String(11), ForeignKey("person.insz", ondelete="CASCADE"))
    street: Mapped[str] = mapped_column(String(200))
    house_number: Mapped[str] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(12))
    municipality: Mapped[str] = mapped_column(String(100))
    nis_code: Mapped[int | None] = mapped_column(Integer)
    country: Mapped[str] = mapped_column(String(2), default="BE")
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)


person_table: Table = table_of(BisPerson)
address_table: Table = table_of(BisAddress)
meta_table: Table = tables.meta_table(metadata)
change_outbox_table: Table = outbox_table(metadata)
