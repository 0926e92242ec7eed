"""The warehouse's data formats: what the sources deliver, what the trusted third party hands on, what the
snapshot holds and what is published.

The flow (``DESIGN.md`` §3.6): each source delivers a **raw extract** for a quarter through the hub under the
warehouse's deliberation; the trusted third party (:mod:`kruispunt.coding`) replaces every INSZ and household
number by a code of the project ``dwh`` (**coded extract**); the warehouse builds the **person-quarter
snapshot** (one row per person and quarter, the socio-economic position on the quarter's last day); the five
applications' **tables** are computed from it, put through disclosure control and **published**. Only coded
extracts and what is derived from them are ever written in the warehouse's folder.

All tables are Arrow schemas (Parquet on disk), one folder per quarter (``quarter=2024Q4``, Hive style), so
that DuckDB, Spark or Trino read them alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

QUARTER_PATTERN = re.compile(r"^(\d{4})Q([1-4])$")
"""A quarter label: ``2024Q4``."""

TOTAL = "_T"
"""The code of a dimension's total (SDMX ``_T``): every table carries its margins explicitly."""

SUPPRESSED = "C"
"""The status of a cell withheld by disclosure control (SDMX ``OBS_STATUS`` "confidential"): value NULL."""

PROJECT = "dwh"
"""The coding project of the warehouse itself (codes link within the warehouse, never with an extract's)."""

# ------------------------------------------------------------------------------------------ raw extracts
# What a source sends for one quarter. ``insz`` and ``household`` never leave the hub/TTP uncoded.

RAW_PERSONS = pa.schema(
    [
        pa.field("insz", pa.string(), nullable=False),
        pa.field("sex", pa.string(), nullable=False),  # "M", "F", "" unknown
        pa.field("age", pa.int16()),  # completed years on the quarter's last day; NULL unknown
        pa.field("nationality", pa.string(), nullable=False),  # ISO 3166-1 alpha-2
        pa.field("nis_code", pa.int32()),  # REFNIS municipality of residence on the last day; NULL abroad
        pa.field("household", pa.string()),  # National Register household number; NULL none
        pa.field("relationship", pa.string(), nullable=False),  # head, spouse, partner, child, other, ""
    ]
)
"""National Register: every person alive on the quarter's last day (residents and bis numbers with a file)."""

RAW_FILES = pa.schema(
    [
        pa.field("insz", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # rsz, rva, nic, ocmw, han, fpd, child_benefit, …
        pa.field("kind", pa.string(), nullable=False),  # simulate.lives.KINDS
        pa.field("start", pa.date32(), nullable=False),
        pa.field("end", pa.date32()),  # inclusive; NULL open
        pa.field("employer_kbo", pa.string()),  # dimona_period, dmfa_quarter, temporary_unemployment
        pa.field("joint_committee", pa.string()),  # dimona_period
        pa.field("category", pa.string()),  # the kind's main attribute: see FILE_CATEGORY
        pa.field("amount_cents", pa.int64()),  # dmfa: gross wage of the quarter; benefit: its amount
        pa.field("days", pa.int32()),  # dmfa_quarter: days worked in the quarter, in hundredths (DmfA)
        pa.field("hours", pa.int32()),  # dmfa_quarter: hours worked in the quarter, in hundredths
        pa.field("percent", pa.int16()),  # incapacity degree, career break fraction, fedris %
    ]
)
"""A social source: every file that overlaps the quarter (``start <= last day`` and ``end >= first day``)."""

FILE_CATEGORY: dict[str, str] = {
    "dimona_period": "worker_type",
    "dmfa_quarter": "worker_code",
    "unemployment": "category",
    "temporary_unemployment": "reason",
    "career_break": "scheme",
    "health_insurance": "role",
    "increased_reimbursement": "basis",
    "work_incapacity": "type",
    "leefloon": "category",
    "equivalent_leefloon": "category",
    "other_aid": "aid",
    "income_replacement_allowance": "category",
    "integration_allowance": "category",
    "elderly_assistance_allowance": "category",
    "medical_recognition": "earning_capacity_reduced",
    "pension": "type",
    "igo": "cohabiting",
    "entitling_child": "region",
    "allowance_recipient": "",
    "work_accident": "consolidated",
    "occupational_disease": "disease_code",
}
"""Which attribute of a file's kind becomes ``category`` in the extract ("" = none)."""

RAW_EMPLOYERS = pa.schema(
    [
        pa.field("employer_kbo", pa.string(), nullable=False),
        pa.field("nace", pa.string(), nullable=False),  # NACE-BEL section letter (A … U)
        pa.field("joint_committee", pa.string(), nullable=False),
        pa.field("nis_code", pa.int32()),  # municipality of the registered seat
        pa.field("workers", pa.int32(), nullable=False),  # head count on the quarter's last day
    ]
)
"""RSZ: the employers with at least one worker in the quarter (enterprise data, not personal data)."""

# ------------------------------------------------------------------------------------------ coded extracts


def coded(schema: pa.Schema) -> pa.Schema:
    """The same schema after the TTP: ``insz`` → ``person_id``, ``household`` → ``household_id`` (codes)."""
    renamed = {"insz": "person_id", "household": "household_id"}
    return pa.schema([f.with_name(renamed.get(f.name, f.name)) for f in schema])


CODED_PERSONS = coded(RAW_PERSONS)
CODED_FILES = coded(RAW_FILES)
CODED_EMPLOYERS = RAW_EMPLOYERS

EXTRACTS: dict[str, pa.Schema] = {
    "persons": CODED_PERSONS,
    "files": CODED_FILES,
    "employers": CODED_EMPLOYERS,
}
"""``extracts/quarter=…/{name}.parquet`` in the warehouse folder."""

# ----------------------------------------------------------------------------------- person-quarter snapshot

PERSON_QUARTER = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("quarter", pa.string(), nullable=False),
        pa.field("sex", pa.string(), nullable=False),  # M, F, U
        pa.field("age", pa.int16()),
        pa.field("age_class", pa.string(), nullable=False),  # catalogue code list "age_class"
        pa.field("nationality_group", pa.string(), nullable=False),  # BE, EU, NON_EU, UNKNOWN
        pa.field("nis_code", pa.int32()),  # municipality; NULL abroad
        pa.field("arrondissement", pa.int32()),  # REFNIS arrondissement; NULL abroad
        pa.field("region", pa.string(), nullable=False),  # VLG, WAL, BRU, ABROAD
        pa.field("household_id", pa.string()),
        pa.field("household_type", pa.string(), nullable=False),  # catalogue code list "household_type"
        pa.field("household_size", pa.int16()),
        pa.field("position", pa.string(), nullable=False),  # socio-economic position (nomenclature code)
        pa.field("position_group", pa.string(), nullable=False),  # 1 working, 2 job seeker, 3 inactive, 4 ?
        pa.field("nace_section", pa.string()),  # main employer's NACE section; NULL not salaried
        pa.field("joint_committee", pa.string()),
        pa.field("work_regime", pa.string()),  # FT, PT; NULL not salaried
        pa.field("wage_class", pa.string()),  # catalogue code list "wage_class"
        pa.field("employer_size", pa.string()),  # catalogue code list "employer_size"
        pa.field("unemployed", pa.bool_(), nullable=False),
        pa.field("incapacity", pa.bool_(), nullable=False),
        pa.field("disability", pa.bool_(), nullable=False),
        pa.field("pension", pa.bool_(), nullable=False),
        pa.field("social_integration", pa.bool_(), nullable=False),
        pa.field("child_benefit", pa.bool_(), nullable=False),
    ]
)
"""``snapshot/quarter=…/*.parquet``: one row per person and quarter, on the quarter's last day."""

# ---------------------------------------------------------------------------------------- published tables


@dataclass(frozen=True)
class Value:
    """One value of a dimension, in a fixed order; ``TOTAL`` is the margin."""

    code: str
    label: str


@dataclass(frozen=True)
class Dimension:
    """A dimension of a published table: the variable of the catalogue it shows and its values."""

    code: str  # a variable of the catalogue ("quarter", "region", "position", …)
    label: str
    values: tuple[Value, ...]
    time: bool = False  # the time dimension (PxWeb "TIME", JSON-stat role "time")

    def codes(self) -> tuple[str, ...]:
        return tuple(v.code for v in self.values)


@dataclass(frozen=True)
class TableMeta:
    """What is known about a published table without reading its cells."""

    id: str  # "global_position", "local_position", …
    application: str  # global, local, household, mobility_short, mobility_long
    title: str
    dimensions: tuple[Dimension, ...]
    measure: str = "persons"
    unit: str = "number of persons"
    updated: str = ""  # ISO timestamp of the load that computed it
    source: str = "kruispunt data warehouse labour market and social protection"
    notes: tuple[str, ...] = field(default_factory=tuple)


def cells_schema(meta: TableMeta) -> pa.Schema:
    """A published table's cells: one string column per dimension, then ``value`` and ``status``.

    Every combination of the dimensions' codes (totals included) has one row. A suppressed cell has
    ``value`` NULL and ``status`` ``SUPPRESSED``: the number is not stored, so no query path can return it.
    """
    columns = [pa.field(d.code, pa.string(), nullable=False) for d in meta.dimensions]
    columns += [pa.field("value", pa.int64()), pa.field("status", pa.string(), nullable=False)]
    return pa.schema(columns)
