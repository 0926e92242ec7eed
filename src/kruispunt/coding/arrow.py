"""Replacing the identifiers of an extract by their codes: one SQL statement on DuckDB (parallel, streaming).

The hub uses it on each extract it passes to the warehouse (:func:`apply_codes`, an Arrow table in memory);
the benchmark on the synthetic nation's extracts on disk (:func:`code_parquet`, Parquet to Parquet). Both run
:func:`coded_sql`. Who may compute codes is not decided here: the caller gets the distinct INSZ with
:func:`distinct_inszs`, has them coded by the trusted third party, and hands the codes back.

``insz`` becomes ``person_id``; ``household`` (a National Register household number) becomes
``household_id`` = ``h`` + the code of the household's member with the smallest INSZ, so a household needs
no key of its own and its id says nothing the rows do not already say.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

MEMORY_LIMIT = "6GB"
"""DuckDB's working memory for one coding (it spills beyond; its default is 80 % of the machine)."""


def distinct_inszs(table: pa.Table) -> list[str]:
    """The INSZ of ``table``, each once (empty when it has no ``insz`` column)."""
    if "insz" not in table.schema.names:
        return []
    return [str(v) for v in pc.unique(table["insz"].drop_null()).to_pylist()]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def coded_sql(names: Sequence[str]) -> str:
    """The statement over the relations ``source`` (with ``names``) and ``codes`` (insz, code)."""
    columns = []
    for name in names:
        if name == "insz":
            columns.append("c.code AS person_id")
        elif name == "household":
            columns.append("CASE WHEN s.household IS NULL THEN NULL ELSE 'h' || hc.code END AS household_id")
        else:
            columns.append(f"s.{_quoted(name)}")
    households = ""
    if "household" in names:
        households = (
            " LEFT JOIN (SELECT h.household, k.code FROM (SELECT household, MIN(insz) AS insz FROM source"
            " WHERE household IS NOT NULL GROUP BY household) h JOIN codes k ON k.insz = h.insz) hc"
            " ON hc.household = s.household"
        )
    return f"SELECT {', '.join(columns)} FROM source s LEFT JOIN codes c ON c.insz = s.insz{households}"  # noqa: S608


def _connection(
    inszs: Sequence[str] | pa.Array, codes: Sequence[str] | pa.Array
) -> duckdb.DuckDBPyConnection:
    keys = inszs if isinstance(inszs, pa.Array) else pa.array(inszs, pa.string())
    values = codes if isinstance(codes, pa.Array) else pa.array(codes, pa.string())
    if len(keys) != len(values):
        raise ValueError("one code per INSZ is needed")
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    con.register("codes", pa.table({"insz": keys, "code": values}))
    return con


def _check(con: duckdb.DuckDBPyConnection) -> None:
    (missing,) = con.execute(
        "SELECT count(*) FROM source s LEFT JOIN codes c ON c.insz = s.insz "
        "WHERE s.insz IS NOT NULL AND c.code IS NULL"
    ).fetchall()[0]
    if missing:
        raise ValueError(f"{missing} INSZ of the table have no code")


def apply_codes(
    table: pa.Table, inszs: Sequence[str] | pa.Array, codes: Sequence[str] | pa.Array
) -> pa.Table:
    """``table`` with ``insz``/``household`` replaced by their codes (``codes[i]`` codes ``inszs[i]``),
    rows in the same order."""
    if "insz" not in table.schema.names:
        return table
    con = _connection(inszs, codes)
    try:
        con.register("numbered", table.append_column("_row", pa.array(range(table.num_rows), pa.int64())))
        con.execute("CREATE TEMP VIEW source AS SELECT * FROM numbered").fetchall()
        _check(con)
        query = coded_sql([*table.schema.names, "_row"])
        ordered = f"SELECT * EXCLUDE (_row) FROM ({query}) ORDER BY _row"  # noqa: S608 (built from names)
        result = con.sql(ordered).to_arrow_table()
    finally:
        con.close()
    fields = [
        f.with_name({"insz": "person_id", "household": "household_id"}.get(f.name, f.name))
        for f in table.schema
    ]
    return result.cast(pa.schema(fields))


def code_parquet(
    source: Path | str, target: Path, inszs: Sequence[str] | pa.Array, codes: Sequence[str] | pa.Array
) -> int:
    """The Parquet files ``source`` (a path or glob) coded into the Parquet file ``target``; rows written."""
    con = _connection(inszs, codes)
    try:
        relation = con.read_parquet(str(source))
        relation.create_view("source")
        names = list(relation.columns)
        if "insz" in names:
            _check(con)
            query = coded_sql(names)
        else:
            query = "SELECT * FROM source"
        quoted = str(target).replace("'", "''")
        con.execute(f"COPY ({query}) TO '{quoted}' (FORMAT parquet)")
        written = con.execute("SELECT count(*) FROM read_parquet($p)", {"p": str(target)}).fetchone()
    finally:
        con.close()
    return int(written[0]) if written else 0
