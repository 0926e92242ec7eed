"""The person-quarter snapshot: one row per person and quarter, the situation on the quarter's last day.

``build_snapshot`` reads a quarter's coded extracts (``persons``, ``files``, ``employers``), computes every
:data:`~.schemas.PERSON_QUARTER` column in one SQL statement (:data:`SNAPSHOT_SQL`) and writes
``snapshot/quarter=<q>/part-0.parquet``. The SQL is portable (CTEs, CASE, window functions; sqlglot
transpiles it to Spark and Trino): it reads the tables ``persons``, ``files``, ``employers`` (the extracts),
``quarter_bounds`` (one row: quarter, first_day, last_day) and ``refnis`` (``data/refnis.csv``), which this
module registers as DuckDB views for the duration of the call.

Rules (the fiches in ``data/variables.yaml`` say the same for users):

* position: :mod:`.nomenclature` over the files active on the last day (``start <= last`` and ``end`` NULL or
  ``>= last``), first matching code in priority order;
* employment details (salaried positions 11x only): the DmfA rows of the quarter; main employer = most days,
  then most gross pay; DmfA ``days`` are in hundredths (as the DmfA declares them and ``simulate.lives``
  draws them); full-time when the days reach 90 % of five days a week over the calendar days the Dimona
  periods with the main employer cover in the quarter; daily wage = gross cents / days hundredths = euro/day;
* household type: LIPRO from the relationships to the head within ``household_id``.

The file is written by pyarrow from DuckDB's Arrow stream, batch by batch (no Python per row), because
DuckDB's own Parquet writer decides a column's nullability from the data, and the snapshot must carry the
exact PERSON_QUARTER schema. A quarter is written into a temporary folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from kruispunt.warehouse import catalogue, nomenclature
from kruispunt.warehouse.extract import quarter_bounds
from kruispunt.warehouse.schemas import EXTRACTS, PERSON_QUARTER

EU_COUNTRIES = (
    *("AT", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE"),
    *("IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
)
"""The other EU-27 member states (ISO 3166-1 alpha-2; Greece is GR, not EL)."""

FULL_TIME_SHARE = 0.9
"""Share of a full-time quarter (five days a week over the covered days) from which a job is full-time."""

BATCH_ROWS = 1_000_000

_FT_FACTOR = round(FULL_TIME_SHARE * 5 * 100)  # days (hundredths) * 7 >= _FT_FACTOR * calendar days

_DAILY_WAGE = "(CASE WHEN m.days > 0 THEN CAST(m.gross AS DOUBLE) / m.days END)"  # euro a day

SNAPSHOT_SQL = f"""
WITH qb AS (
    SELECT quarter, first_day, last_day FROM quarter_bounds
),
active AS (
    SELECT f.person_id, f.kind, f.category, f.percent
    FROM files f CROSS JOIN qb
    WHERE f.start <= qb.last_day AND (f."end" IS NULL OR f."end" >= qb.last_day)
),
ind AS (
    SELECT
        a.person_id,
        {nomenclature.indicator_sql("a")},
        MAX(CASE WHEN a.kind = 'unemployment' THEN 1 ELSE 0 END) AS f_unemployed,
        MAX(CASE WHEN a.kind = 'work_incapacity' THEN 1 ELSE 0 END) AS f_incapacity,
        MAX(CASE WHEN a.kind IN ('income_replacement_allowance', 'integration_allowance') THEN 1 ELSE 0 END)
            AS f_disability,
        MAX(CASE WHEN a.kind = 'pension' THEN 1 ELSE 0 END) AS f_pension,
        MAX(CASE WHEN a.kind IN ('leefloon', 'equivalent_leefloon') THEN 1 ELSE 0 END)
            AS f_social_integration,
        MAX(CASE WHEN a.kind = 'entitling_child' THEN 1 ELSE 0 END) AS f_child_benefit
    FROM active a
    GROUP BY a.person_id
),
dmfa AS (
    SELECT f.person_id, f.employer_kbo,
           SUM(COALESCE(f.days, 0)) AS days, SUM(COALESCE(f.amount_cents, 0)) AS gross
    FROM files f CROSS JOIN qb
    WHERE f.kind = 'dmfa_quarter' AND f.employer_kbo IS NOT NULL
      AND f.start <= qb.last_day AND (f."end" IS NULL OR f."end" >= qb.first_day)
    GROUP BY f.person_id, f.employer_kbo
),
main_job AS (
    SELECT person_id, employer_kbo, days, gross
    FROM (
        SELECT d.person_id, d.employer_kbo, d.days, d.gross,
               ROW_NUMBER() OVER (PARTITION BY d.person_id ORDER BY d.days DESC, d.gross DESC, d.employer_kbo)
                   AS rn
        FROM dmfa d
    ) ranked
    WHERE rn = 1
),
covered AS (
    SELECT m.person_id,
           LEAST(
               SUM(DATE_DIFF('day', GREATEST(f.start, qb.first_day),
                             LEAST(COALESCE(f."end", qb.last_day), qb.last_day)) + 1),
               MAX(DATE_DIFF('day', qb.first_day, qb.last_day)) + 1
           ) AS cal_days
    FROM main_job m
    JOIN files f ON f.person_id = m.person_id AND f.employer_kbo = m.employer_kbo
    CROSS JOIN qb
    WHERE f.kind = 'dimona_period' AND f.start <= qb.last_day AND (f."end" IS NULL OR f."end" >= qb.first_day)
    GROUP BY m.person_id
),
quarter_length AS (
    SELECT DATE_DIFF('day', first_day, last_day) + 1 AS cal_days FROM qb
),
emp AS (
    SELECT employer_kbo, MAX(nace) AS nace, MAX(joint_committee) AS joint_committee, MAX(workers) AS workers
    FROM employers
    GROUP BY employer_kbo
),
hh AS (
    SELECT household_id,
           COUNT(*) AS size,
           SUM(CASE WHEN relationship = 'head' THEN 1 ELSE 0 END) AS heads,
           SUM(CASE WHEN relationship = 'spouse' THEN 1 ELSE 0 END) AS spouses,
           SUM(CASE WHEN relationship = 'partner' THEN 1 ELSE 0 END) AS partners,
           SUM(CASE WHEN relationship = 'child' THEN 1 ELSE 0 END) AS children
    FROM persons
    WHERE household_id IS NOT NULL
    GROUP BY household_id
),
hh_type AS (
    SELECT household_id, size,
           CASE
               WHEN size = 1 THEN '1'
               WHEN heads <> 1 OR spouses + partners > 1 THEN '7'
               WHEN heads + spouses + partners + children <> size THEN '7'
               WHEN spouses = 1 AND children = 0 THEN '2'
               WHEN spouses = 1 THEN '3'
               WHEN partners = 1 AND children = 0 THEN '4'
               WHEN partners = 1 THEN '5'
               WHEN children > 0 THEN '6'
               ELSE '7'
           END AS household_type
    FROM hh
),
person AS (
    SELECT p.person_id, qb.quarter, qb.last_day, p.sex, p.age, p.nationality, p.nis_code, p.household_id,
           r.arrondissement, r.region AS refnis_region,
           h.household_type, h.size AS household_size,
           i.f_unemployed, i.f_incapacity, i.f_disability, i.f_pension, i.f_social_integration,
           i.f_child_benefit,
           {nomenclature.position_case_sql("i.", "p.age")} AS position
    FROM persons p
    CROSS JOIN qb
    LEFT JOIN ind i ON i.person_id = p.person_id
    LEFT JOIN hh_type h ON h.household_id = p.household_id
    LEFT JOIN refnis r ON r.nis_code = p.nis_code
        AND r.valid_from <= qb.last_day AND (r.valid_to IS NULL OR r.valid_to >= qb.last_day)
)
SELECT
    CAST(s.person_id AS VARCHAR) AS person_id,
    CAST(s.quarter AS VARCHAR) AS quarter,
    CASE WHEN s.sex IN ('M', 'F') THEN s.sex ELSE 'U' END AS sex,
    CAST(s.age AS SMALLINT) AS age,
    {catalogue.class_case_sql("age_class", "s.age")} AS age_class,
    CASE
        WHEN s.nationality = 'BE' THEN 'BE'
        WHEN s.nationality IN ({", ".join(f"'{c}'" for c in EU_COUNTRIES)}) THEN 'EU'
        WHEN s.nationality IS NULL OR s.nationality = '' THEN 'UNKNOWN'
        ELSE 'NON_EU'
    END AS nationality_group,
    CAST(s.nis_code AS INTEGER) AS nis_code,
    CAST(s.arrondissement AS INTEGER) AS arrondissement,
    CASE
        WHEN s.nis_code IS NULL THEN 'ABROAD'
        WHEN s.refnis_region IS NULL THEN 'UNK'
        ELSE s.refnis_region
    END AS region,
    CAST(s.household_id AS VARCHAR) AS household_id,
    CASE WHEN s.household_id IS NULL THEN '9' ELSE s.household_type END AS household_type,
    CAST(s.household_size AS SMALLINT) AS household_size,
    s.position AS position,
    SUBSTRING(s.position, 1, 1) AS position_group,
    CASE WHEN SUBSTRING(s.position, 1, 2) = '11' THEN e.nace END AS nace_section,
    CASE WHEN SUBSTRING(s.position, 1, 2) = '11' THEN e.joint_committee END AS joint_committee,
    CASE
        WHEN SUBSTRING(s.position, 1, 2) <> '11' OR m.person_id IS NULL THEN NULL
        WHEN m.days * 7 >= {_FT_FACTOR} * COALESCE(c.cal_days, ql.cal_days) THEN 'FT'
        ELSE 'PT'
    END AS work_regime,
    CASE
        WHEN SUBSTRING(s.position, 1, 2) <> '11' OR m.person_id IS NULL THEN NULL
        ELSE {catalogue.class_case_sql("wage_class", _DAILY_WAGE)}
    END AS wage_class,
    CASE
        WHEN SUBSTRING(s.position, 1, 2) <> '11' OR m.person_id IS NULL THEN NULL
        ELSE {catalogue.class_case_sql("employer_size", "e.workers")}
    END AS employer_size,
    COALESCE(s.f_unemployed, 0) = 1 AS unemployed,
    COALESCE(s.f_incapacity, 0) = 1 AS incapacity,
    COALESCE(s.f_disability, 0) = 1 AS disability,
    COALESCE(s.f_pension, 0) = 1 AS pension,
    COALESCE(s.f_social_integration, 0) = 1 AS social_integration,
    COALESCE(s.f_child_benefit, 0) = 1 AS child_benefit
FROM person s
CROSS JOIN quarter_length ql
LEFT JOIN main_job m ON m.person_id = s.person_id
LEFT JOIN covered c ON c.person_id = s.person_id
LEFT JOIN emp e ON e.employer_kbo = m.employer_kbo
"""  # noqa: S608 (fragments generated from package data, no user input)
"""The snapshot of one quarter, in PERSON_QUARTER's column order (types cast once more when written)."""

QUERIES: dict[str, str] = {"snapshot": SNAPSHOT_SQL}
"""Every SQL statement of this module (the portability test transpiles each)."""


def refnis_table() -> pa.Table:
    """``data/refnis.csv`` as an Arrow table (the ``refnis`` input of the SQL)."""
    ms = catalogue.municipalities()
    return pa.table(
        {
            "nis_code": pa.array([m.nis_code for m in ms], pa.int32()),
            "arrondissement": pa.array([m.arrondissement for m in ms], pa.int32()),
            "region": pa.array([m.region for m in ms], pa.string()),
            "valid_from": pa.array([m.valid_from for m in ms], pa.date32()),
            "valid_to": pa.array([m.valid_to for m in ms], pa.date32()),
        }
    )


def _check_columns(path: Path, schema: pa.Schema) -> None:
    if not path.is_file():
        raise FileNotFoundError(path)
    missing = set(schema.names) - set(pq.read_schema(path).names)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")


def _write(reader: pa.RecordBatchReader, path: Path) -> int:
    rows = 0
    required = [f.name for f in PERSON_QUARTER if not f.nullable]
    with pq.ParquetWriter(path, PERSON_QUARTER, compression="zstd") as writer:
        for batch in reader:
            table = pa.Table.from_batches([batch]).select(PERSON_QUARTER.names)
            for name in required:
                if table.column(name).null_count:
                    raise ValueError(
                        f"snapshot column {name} has NULLs (a bug in SNAPSHOT_SQL or the extract)"
                    )
            writer.write_table(table.cast(PERSON_QUARTER))
            rows += table.num_rows
    return rows


def build_snapshot(
    con: duckdb.DuckDBPyConnection, *, extracts_dir: Path, snapshot_dir: Path, quarter: str
) -> int:
    """Build ``snapshot_dir/quarter=<q>/part-0.parquet`` from ``extracts_dir/quarter=<q>/``; rows written.

    A previous snapshot of the quarter is replaced whole: the new one is written beside it and renamed in.
    """
    first, last = quarter_bounds(quarter)
    source = Path(extracts_dir) / f"quarter={quarter}"
    for name, schema in EXTRACTS.items():
        _check_columns(source / f"{name}.parquet", schema)
    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    target = snapshot_dir / f"quarter={quarter}"
    tag = uuid.uuid4().hex[:12]
    tmp = snapshot_dir / f".tmp-quarter={quarter}-{tag}"
    old = snapshot_dir / f".old-quarter={quarter}-{tag}"

    tmp.mkdir()
    try:
        for name in EXTRACTS:
            con.read_parquet(str(source / f"{name}.parquet"), hive_partitioning=False).create_view(
                name, replace=True
            )
        bounds = pa.table({"quarter": [quarter], "first_day": [first], "last_day": [last]})
        con.register("quarter_bounds", bounds)
        con.register("refnis", refnis_table())
        reader = con.sql(SNAPSHOT_SQL).to_arrow_reader(BATCH_ROWS)
        rows = _write(reader, tmp / "part-0.parquet")
        if target.exists():
            target.rename(old)
        tmp.rename(target)
    finally:
        if old.exists() and not target.exists():  # the swap failed half-way: put the old quarter back
            old.rename(target)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        for name in EXTRACTS:
            con.execute(f'DROP VIEW IF EXISTS "{name}"')
        for name in ("quarter_bounds", "refnis"):
            with contextlib.suppress(duckdb.Error, KeyError):
                con.unregister(name)
    return rows
