"""Tables of the National Register database.

``person.birth_date`` is text in the incomplete-date form ``YYYY-MM-DD`` / ``YYYY-MM-00`` / ``YYYY-00-00``
(the register knows people whose birth date is partly unknown); ``birth_year`` is kept apart for the search
index. ``last_name_key`` is the phonetic key of the last name (:func:`kruispunt.sources.common.phonetic_key`),
indexed together with the birth year: a phonetic search reads one narrow index range per year.
``change_outbox`` holds the changes the register records (moves, households, deaths), written in the same
transaction as the register's rows and published to the network (:mod:`kruispunt.sources.changes`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, SmallInteger, String, Table
from sqlalchemy.orm import Mapped, mapped_column, registry

from kruispunt.core import tables
from kruispunt.core.db import ComponentBase, new_metadata
from kruispunt.core.tables import BIG_ID, table_of
from kruispunt.sources.changes import outbox_table

metadata = new_metadata()


class NationalRegisterBase(ComponentBase):
    """Declarative base of the national_register component (own metadata and registry)."""

    __abstract__ = True
    metadata = metadata
    registry = registry(metadata=metadata)


class NrPerson(NationalRegisterBase):
    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_phonetic", "last_name_key", "birth_year"),
        # unique indexes rather than constraints: a bulk load into an empty table drops and rebuilds them
        Index("ux_person_sis_card_number", "sis_card_number", unique=True),
        Index("ux_person_identity_card_number", "identity_card_number", unique=True),
    )

    insz: Mapped[str] = mapped_column(String(11), primary_key=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_names: Mapped[str] = mapped_column(String(150))
    birth_date: Mapped[str] = mapped_column(String(10), comment="YYYY-MM-DD, 00 for an unknown month/day")
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    sex: Mapped[str | None] = mapped_column(String(1), comment="M, F or NULL (unknown)")
    nationality: Mapped[str | None] = mapped_column(String(2), comment="ISO 3166-1 alpha-2")
    civil_state: Mapped[int | None] = mapped_column(SmallInteger, comment="t_CivilStateCode")
    death_date: Mapped[dt.date | None] = mapped_column(Date)
    last_name_key: Mapped[str] = mapped_column(String(32), comment="phonetic key of last_name")
    last_name_norm: Mapped[str] = mapped_column(String(100), comment="last_name without case/accents/spaces")
    sis_card_number: Mapped[str | None] = mapped_column(String(10))
    identity_card_number: Mapped[str | None] = mapped_column(String(12))


class NrAddress(NationalRegisterBase):
    """Main residences of a person over time; ``end_date`` NULL = current."""

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


class NrHouseholdMember(NationalRegisterBase):
    """Membership of a household (people sharing a main residence) with the relationship to its head."""

    __tablename__ = "household_member"
    __table_args__ = (Index("ix_household_member_insz", "insz"),)

    household_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    insz: Mapped[str] = mapped_column(
        String(11), ForeignKey("person.insz", ondelete="CASCADE"), primary_key=True
    )
    relationship: Mapped[str] = mapped_column(String(10), comment="head, spouse, partner, child, other")
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)


person_table: Table = table_of(NrPerson)
address_table: Table = table_of(NrAddress)
member_table: Table = table_of(NrHouseholdMember)
meta_table: Table = tables.meta_table(metadata)
change_outbox_table: Table = outbox_table(metadata)
