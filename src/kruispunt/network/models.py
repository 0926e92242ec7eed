"""Tables of the hub database owned by the network package: reference data and the persons directory.

The reference tables (sector, capacity, institution) are seeded from the package data files; the institution
table also keeps each institution's service endpoint. ``person_line`` is the persons directory
(verwijzingsrepertorium): one line = institution I knows person P in capacity C for a period.

No foreign key from ``person_line`` to ``institution``: lines are bulk-loaded by the million and checked by
the code that writes them (``directory.register`` takes an ``Institution`` from the registry).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from kruispunt.core.db import ComponentBase, new_metadata

# SQLite only auto-increments an ``INTEGER PRIMARY KEY`` (the rowid); PostgreSQL gets a BIGINT identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class NetworkBase(ComponentBase):
    __abstract__ = True
    metadata = new_metadata()


class SectorRow(NetworkBase):
    __tablename__ = "sector"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    institution_type: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    short_name: Mapped[str] = mapped_column(String(64))
    short_name_fr: Mapped[str] = mapped_column(String(64))
    name_nl: Mapped[str] = mapped_column(Text)
    name_fr: Mapped[str] = mapped_column(Text)


class CapacityRow(NetworkBase):
    __tablename__ = "capacity"
    __table_args__ = (Index("ix_capacity_sector_code", "sector", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sector: Mapped[int | None] = mapped_column(Integer, comment="NULL = valid in every sector ('*')")
    code: Mapped[int] = mapped_column(Integer)
    label_fr: Mapped[str] = mapped_column(Text)
    label_nl: Mapped[str] = mapped_column(Text)
    label_de: Mapped[str | None] = mapped_column(Text)


class InstitutionRow(NetworkBase):
    __tablename__ = "institution"

    kbo: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    sector: Mapped[int] = mapped_column(Integer)
    institution_type: Mapped[int] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(64))
    endpoint: Mapped[str | None] = mapped_column(String(512))


class PersonLineRow(NetworkBase):
    __tablename__ = "person_line"
    __table_args__ = (
        Index("ix_person_line_insz_institution", "insz", "institution"),
        Index("ix_person_line_insz_sector", "insz", "sector"),
        CheckConstraint("register IN ('PRIMARY', 'SECONDARY')", name="register"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    insz: Mapped[str] = mapped_column(String(11))
    institution: Mapped[str] = mapped_column(
        String(10), comment="KBO of the institution that knows the person"
    )
    sector: Mapped[int] = mapped_column(Integer)
    institution_type: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    phase: Mapped[int | None] = mapped_column(Integer)
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date, comment="NULL = still active")
    last_change: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), comment="UTC")
    register: Mapped[str] = mapped_column(String(9))


metadata = NetworkBase.metadata

sector_table: Table = metadata.tables["sector"]
capacity_table: Table = metadata.tables["capacity"]
institution_table: Table = metadata.tables["institution"]
person_line_table: Table = metadata.tables["person_line"]

# Secondary indexes of the persons directory (dropped and re-created around very large SQLite bulk loads).
PERSON_LINE_INDEXES: tuple[Index, ...] = tuple(sorted(person_line_table.indexes, key=lambda ix: str(ix.name)))
