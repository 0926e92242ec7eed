"""The five web applications' tables, computed from the person-quarter snapshot.

A table is data (:class:`TableDef`: id, application, title, dimensions = catalogue variables, filter,
measure). :func:`compute_tables` computes each with one SQL statement (:func:`table_sql`): the snapshot rows
(:data:`FACTS_SQL`, or the person-level transitions :data:`SHORT_MOBILITY_SQL` / :data:`LONG_MOBILITY_SQL`)
are aggregated ``GROUP BY <time>, CUBE(<other dimensions>)`` so that every margin (``TOTAL``) is computed
from the microdata, then right-joined to the cross product of the dimensions' code lists so that every
combination has exactly one row, zeros included. A value outside a code list is an error, never dropped.

Conventions: ``TOTAL`` first in every non-time dimension; the time dimension (``quarter``, ``period``) has
no total (a sum of quarterly stocks is not a count of persons). ``status`` is "" everywhere: disclosure
control comes afterwards.

Mobility: the short-term table follows the persons of a reference quarter ``q`` to their main group at
``q - h`` and ``q + h`` (``h = horizon_quarters``, default 1 because only four quarters are loaded; with nine
or more quarters ``h = 4`` gives the CBSS "one year before / one year after" version); reference quarters are
those with both ``q - h`` and ``q + h`` loaded. "0" = not in the population at that quarter (born,
immigrated, died, emigrated). The long-term table follows every person present in at least one loaded
quarter from the first to the last loaded quarter and counts the quarters in work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from kruispunt.warehouse import catalogue
from kruispunt.warehouse.extract import quarter_bounds
from kruispunt.warehouse.schemas import QUARTER_PATTERN, TOTAL, Dimension, TableMeta, cells_schema

FACTS_SQL = f"""
SELECT
    CAST(quarter AS VARCHAR) AS quarter,
    person_id,
    household_id,
    position,
    position_group,
    SUBSTRING(position, 1, 2) AS position_subgroup,
    sex,
    age_class,
    nationality_group,
    region,
    CAST(nis_code AS VARCHAR) AS nis_code,
    CAST(arrondissement AS VARCHAR) AS arrondissement,
    household_type,
    {catalogue.class_case_sql("household_size_class", "household_size")} AS household_size_class,
    work_regime,
    nace_section,
    wage_class,
    employer_size
FROM snapshot
"""  # noqa: S608 (fragments generated from package data, no user input)
"""One row per person and quarter with every dimension of the snapshot tables as a string code."""

_QUARTER_INDEX = (
    "CAST(SUBSTRING(quarter, 1, 4) AS INTEGER) * 4 + CAST(SUBSTRING(quarter, 6, 1) AS INTEGER) - 1"
)

SHORT_MOBILITY_SQL = f"""
WITH s AS (
    SELECT person_id, CAST(quarter AS VARCHAR) AS quarter, position_group, {_QUARTER_INDEX} AS qi
    FROM snapshot
),
h AS (
    SELECT horizon_quarters FROM mobility_params
)
SELECT
    r.quarter AS quarter,
    COALESCE(b.position_group, '0') AS position_group_before,
    r.position_group AS position_group,
    COALESCE(a.position_group, '0') AS position_group_after
FROM s r
CROSS JOIN h
LEFT JOIN s b ON b.person_id = r.person_id AND b.qi = r.qi - h.horizon_quarters
LEFT JOIN s a ON a.person_id = r.person_id AND a.qi = r.qi + h.horizon_quarters
WHERE r.quarter IN (SELECT quarter FROM reference_quarters)
"""  # noqa: S608 (fragments generated from package data, no user input)
"""One row per person of a reference quarter: main group h quarters before, then, h quarters after."""

LONG_MOBILITY_SQL = """
WITH b AS (
    SELECT period, first_quarter, last_quarter FROM period_bounds
)
SELECT
    b.period AS period,
    COALESCE(MAX(CASE WHEN s.quarter = b.first_quarter THEN s.position_group END), '0')
        AS position_group_first,
    COALESCE(MAX(CASE WHEN s.quarter = b.last_quarter THEN s.position_group END), '0')
        AS position_group_last,
    CAST(SUM(CASE WHEN s.position_group = '1' THEN 1 ELSE 0 END) AS VARCHAR) AS quarters_in_work
FROM snapshot s
CROSS JOIN b
GROUP BY s.person_id, b.period
"""
"""One row per person seen in the period: main group in its first and last quarter, quarters in work."""

BASES = {"facts": FACTS_SQL, "short_mobility": SHORT_MOBILITY_SQL, "long_mobility": LONG_MOBILITY_SQL}

MEASURES = {"persons": "COUNT(*)", "households": "COUNT(DISTINCT household_id)"}
UNITS = {"persons": "number of persons", "households": "number of private households"}


@dataclass(frozen=True)
class TableDef:
    """A published table as data: its dimensions are catalogue variables, the first one is the time."""

    id: str
    application: str  # global, local, household, mobility_short, mobility_long
    title: str
    dimensions: tuple[str, ...]
    filter: str = ""  # SQL condition on the base rows
    base: str = "facts"  # a key of BASES
    measure: str = "persons"  # a key of MEASURES
    notes: tuple[str, ...] = field(default_factory=tuple)


TABLES: tuple[TableDef, ...] = (
    TableDef(
        "global_position",
        "global",
        "Population by socio-economic position, sex, age class and region of residence",
        ("quarter", "position", "sex", "age_class", "region"),
    ),
    TableDef(
        "global_position_nationality",
        "global",
        "Population by socio-economic status, nationality group and sex",
        ("quarter", "position_subgroup", "nationality_group", "sex"),
    ),
    TableDef(
        "local_position",
        "local",
        "Residents by municipality, socio-economic status and sex",
        ("quarter", "nis_code", "position_subgroup", "sex"),
        filter="region IN ('VLG', 'WAL', 'BRU')",
        notes=(
            "Residents of a municipality REFNIS knows on the quarter's last day; people abroad are left out.",
        ),
    ),
    TableDef(
        "global_employment",
        "global",
        "Salaried workers by sector of the main employer, working regime, daily wage class and employer size",
        ("quarter", "nace_section", "work_regime", "wage_class", "employer_size"),
        filter=(
            "position_subgroup = '11' AND nace_section IS NOT NULL AND work_regime IS NOT NULL"
            " AND wage_class IS NOT NULL AND employer_size IS NOT NULL"
        ),
        notes=(
            "Salaried workers with a DmfA declaration for the quarter; the main employer is the one with "
            "the most days declared.",
        ),
    ),
    TableDef(
        "local_position_arrondissement",
        "local",
        "Residents by arrondissement, socio-economic status and sex",
        ("quarter", "arrondissement", "position_subgroup", "sex"),
        filter="region IN ('VLG', 'WAL', 'BRU')",
    ),
    TableDef(
        "household_persons",
        "household",
        "Persons by household type, region of residence and household size",
        ("quarter", "household_type", "region", "household_size_class"),
    ),
    TableDef(
        "household_count",
        "household",
        "Private households by household type, region of residence and household size",
        ("quarter", "household_type", "region", "household_size_class"),
        filter="household_id IS NOT NULL",
        measure="households",
    ),
    TableDef(
        "mobility_short",
        "mobility_short",
        "Persons by main group of socio-economic position h quarters before, in and h quarters after",
        ("quarter", "position_group_before", "position_group", "position_group_after"),
        base="short_mobility",
    ),
    TableDef(
        "mobility_long",
        "mobility_long",
        "Persons by main group in the first and the last quarter of the period and quarters in work",
        ("period", "position_group_first", "position_group_last", "quarters_in_work"),
        base="long_mobility",
    ),
)

LINKED: tuple[tuple[str, ...], ...] = (("household_persons", "household_count"),)
"""Tables over the same cube whose cells determine each other, so they are protected together (the same
cells withheld in each): in a household-size class of one size, persons = size × households, so a count of
households withheld alone would be read off the persons published in the other table."""


def table_sql(table: TableDef) -> str:
    """The cube of ``table`` completed with the cross product of its code lists (tables ``dim_codes_<i>``)."""
    if table.base not in BASES or table.measure not in MEASURES:
        raise ValueError(f"{table.id}: unknown base or measure")
    dims = table.dimensions
    time, others = dims[0], dims[1:]
    labelled = ",\n        ".join(
        [time] + [f"CASE WHEN GROUPING({d}) = 1 THEN '{TOTAL}' ELSE {d} END AS {d}" for d in others]
    )
    where = f"WHERE {table.filter}" if table.filter else ""
    group = f"{time}, CUBE({', '.join(others)})" if others else time
    grid_cols = ",\n        ".join(f"c{i}.code AS {d}, c{i}.ord AS o{i}" for i, d in enumerate(dims))
    grid_from = " CROSS JOIN ".join(f"dim_codes_{i} c{i}" for i in range(len(dims)))
    on = " AND ".join(f"a.{d} = g.{d}" for d in dims)
    select = ", ".join(f"g.{d}" for d in dims)
    order = ", ".join(f"g.o{i}" for i in range(len(dims)))
    return f"""
WITH base AS ({BASES[table.base]}),
agg AS (
    SELECT
        {labelled},
        {MEASURES[table.measure]} AS value
    FROM base
    {where}
    GROUP BY {group}
),
grid AS (
    SELECT
        {grid_cols}
    FROM {grid_from}
)
SELECT {select}, CAST(COALESCE(a.value, 0) AS BIGINT) AS value, '' AS status,
       CASE WHEN g.{dims[0]} IS NULL THEN 1 ELSE 0 END AS orphan
FROM grid g
FULL OUTER JOIN agg a ON {on}
ORDER BY orphan, {order}
"""  # noqa: S608 (identifiers from TABLES, not from users)


def _dimensions(
    table: TableDef, quarters: Sequence[str], reference: Sequence[str], lang: str
) -> tuple[Dimension, ...]:
    first, last = quarter_bounds(quarters[0])[0], quarter_bounds(quarters[-1])[1]
    out = []
    for code in table.dimensions:
        if code == "quarter":
            out.append(
                catalogue.dimension(
                    code, lang=lang, codes=reference if table.base == "short_mobility" else quarters
                )
            )
        elif code == "period":
            out.append(catalogue.dimension(code, lang=lang, codes=[f"{quarters[0]}-{quarters[-1]}"]))
        elif code == "quarters_in_work":
            out.append(catalogue.dimension(code, lang=lang, codes=[str(i) for i in range(len(quarters) + 1)]))
        else:
            out.append(catalogue.dimension(code, lang=lang, between=(first, last)))
    return tuple(out)


def compute_tables(
    con: duckdb.DuckDBPyConnection,
    *,
    snapshot_dir: Path,
    quarters: list[str],
    horizon_quarters: int = 1,
    lang: str = "en",
    tables: Sequence[TableDef] = TABLES,
) -> list[tuple[TableMeta, pa.Table]]:
    """Every table of ``tables`` over the snapshot of ``quarters``: (metadata, cells) in the cells schema.

    A short-mobility table is left out when no quarter has both ``q - h`` and ``q + h`` among ``quarters``.
    """
    if not quarters:
        raise ValueError("no quarters")
    if horizon_quarters < 1:
        raise ValueError("horizon_quarters must be >= 1")
    for q in quarters:
        if not QUARTER_PATTERN.match(q):
            raise ValueError(f"not a quarter label: {q!r}")
    quarters = sorted(set(quarters))
    files = []
    for q in quarters:
        folder = Path(snapshot_dir) / f"quarter={q}"
        if not folder.is_dir() or not any(folder.glob("*.parquet")):
            raise FileNotFoundError(f"no snapshot for {q} in {snapshot_dir}")
        files.append(str(folder / "*.parquet"))

    def index(q: str) -> int:
        return int(q[:4]) * 4 + int(q[5]) - 1

    loaded = {index(q) for q in quarters}
    reference = [q for q in quarters if {index(q) - horizon_quarters, index(q) + horizon_quarters} <= loaded]
    updated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    con.read_parquet(files, hive_partitioning=False).create_view("snapshot", replace=True)
    registered = ["mobility_params", "reference_quarters", "period_bounds"]
    con.register("mobility_params", pa.table({"horizon_quarters": pa.array([horizon_quarters], pa.int32())}))
    con.register("reference_quarters", pa.table({"quarter": pa.array(reference, pa.string())}))
    con.register(
        "period_bounds",
        pa.table(
            {
                "period": [f"{quarters[0]}-{quarters[-1]}"],
                "first_quarter": [quarters[0]],
                "last_quarter": [quarters[-1]],
            }
        ),
    )
    out: list[tuple[TableMeta, pa.Table]] = []
    try:
        for table in tables:
            if table.base == "short_mobility" and not reference:
                continue
            dims = _dimensions(table, quarters, reference, lang)
            notes = table.notes
            if table.base == "short_mobility":
                notes = (*notes, f"h = {horizon_quarters} quarter(s); 0 = not in the population then.")
            meta = TableMeta(
                id=table.id,
                application=table.application,
                title=table.title,
                dimensions=dims,
                measure=table.measure,
                unit=UNITS[table.measure],
                updated=updated,
                notes=notes,
            )
            for i, d in enumerate(dims):
                name = f"dim_codes_{i}"
                registered.append(name)
                con.register(
                    name,
                    pa.table(
                        {"code": pa.array(d.codes(), pa.string()), "ord": pa.array(range(len(d.values)))}
                    ),
                )
            result = con.sql(table_sql(table)).to_arrow_table()
            orphans = result.filter(pc.equal(result["orphan"], 1))
            if orphans.num_rows:
                sample = orphans.slice(0, 5).to_pylist()
                raise ValueError(f"{table.id}: values outside the code lists, e.g. {sample}")
            cells = result.select([*table.dimensions, "value", "status"]).cast(cells_schema(meta))
            out.append((meta, cells))
    finally:
        con.execute('DROP VIEW IF EXISTS "snapshot"')
        for name in dict.fromkeys(registered):
            con.unregister(name)
    return out
