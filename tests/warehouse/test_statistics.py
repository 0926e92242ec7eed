"""The five applications' tables: complete cubes, margins equal to sums, mobility, portable SQL."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from kruispunt.warehouse import statistics
from kruispunt.warehouse.schemas import PERSON_QUARTER, TOTAL, TableMeta, cells_schema

QUARTERS = ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]


def row(pid: str, quarter: str, position: str, **kw: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "person_id": pid,
        "quarter": quarter,
        "sex": "F",
        "age": 40,
        "age_class": "Y40T49",
        "nationality_group": "BE",
        "nis_code": 11002,
        "arrondissement": 11000,
        "region": "VLG",
        "household_id": f"h{pid}",
        "household_type": "1",
        "household_size": 1,
        "position": position,
        "position_group": position[0],
        "unemployed": False,
        "incapacity": False,
        "disability": False,
        "pension": False,
        "social_integration": False,
        "child_benefit": False,
    }
    r.update(kw)
    return r


# a: works all year; b: unemployed, then works from Q3; c: pensioner in Q1-Q2, dies; d: born in Q2 (child)
# e: Walloon man abroad in Q4; f: household of two in Brussels
PATHS = {
    "a": {q: "111" for q in QUARTERS},
    "b": {"2024Q1": "211", "2024Q2": "211", "2024Q3": "111", "2024Q4": "111"},
    "c": {"2024Q1": "321", "2024Q2": "321"},
    "d": {"2024Q2": "361", "2024Q3": "361", "2024Q4": "361"},
    "e": {q: "391" for q in QUARTERS},
    "f1": {q: "111" for q in QUARTERS},
    "f2": {q: "411" for q in QUARTERS},
}
EXTRA: dict[str, dict[str, Any]] = {
    "b": {"sex": "M", "age": 30, "age_class": "Y30T39"},
    "c": {"age": 80, "age_class": "Y_GE80"},
    "d": {"age": 0, "age_class": "Y_LT18"},
    "e": {"sex": "M", "nis_code": 52011, "arrondissement": 52000, "region": "WAL"},
    "f1": {"nis_code": 21004, "arrondissement": 21000, "region": "BRU", "household_id": "hf"},
    "f2": {"nis_code": 21004, "arrondissement": 21000, "region": "BRU", "household_id": "hf"},
}
ABROAD_Q4 = {"nis_code": None, "arrondissement": None, "region": "ABROAD", "household_id": None}


def write_snapshot(root: Path) -> Path:
    for q in QUARTERS:
        rows = []
        for pid, path in PATHS.items():
            if q in path:
                kw = dict(EXTRA.get(pid, {}))
                if pid == "e" and q == "2024Q4":
                    kw.update(ABROAD_Q4, household_type="9", household_size=None)
                if pid.startswith("f"):
                    kw.update(household_type="4", household_size=2)
                rows.append(row(pid, q, path[q], **kw))
        folder = root / f"quarter={q}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=PERSON_QUARTER), folder / "part-0.parquet")
    return root


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[TableMeta, pa.Table]]:
    root = write_snapshot(tmp_path_factory.mktemp("snap"))
    with duckdb.connect() as con:
        out = statistics.compute_tables(con, snapshot_dir=root, quarters=QUARTERS)
    return {meta.id: (meta, cells) for meta, cells in out}


def cells(table: pa.Table, meta: TableMeta) -> dict[tuple[str, ...], int]:
    codes = [d.code for d in meta.dimensions]
    return {tuple(r[c] for c in codes): r["value"] for r in table.to_pylist()}


def test_every_application_has_a_table(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    assert {m.application for m, _ in tables.values()} == {
        "global",
        "local",
        "household",
        "mobility_short",
        "mobility_long",
    }
    for meta, table in tables.values():
        assert table.schema.equals(cells_schema(meta))
        assert meta.dimensions[0].time
        assert all(not d.time for d in meta.dimensions[1:])
        assert set(table.column("status").to_pylist()) == {""}


def test_complete_cube_with_zeros(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    for meta, table in tables.values():
        grid = set(itertools.product(*(d.codes() for d in meta.dimensions)))
        got = cells(table, meta)
        assert len(got) == table.num_rows == len(grid), meta.id
        assert set(got) == grid, meta.id
        assert 0 in got.values()
        assert all(d.codes()[0] == TOTAL for d in meta.dimensions[1:])


def test_margins_equal_sums(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    """Every total cell equals the sum of the cells it covers, along every dimension (persons measure)."""
    for meta, table in tables.values():
        if meta.measure != "persons":
            continue
        got = cells(table, meta)
        for key, value in got.items():
            for i, d in enumerate(meta.dimensions):
                if key[i] != TOTAL:
                    continue
                parts = sum(got[(*key[:i], c, *key[i + 1 :])] for c in d.codes() if c != TOTAL)
                assert parts == value, (meta.id, key)


def test_global_counts(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    meta, table = tables["global_position"]
    got = cells(table, meta)
    t = TOTAL
    assert got[("2024Q1", t, t, t, t)] == 6
    assert got[("2024Q2", t, t, t, t)] == 7
    assert got[("2024Q4", t, t, t, t)] == 6
    assert got[("2024Q4", "111", t, t, t)] == 3
    assert got[("2024Q4", "111", "M", "Y30T39", "VLG")] == 1
    assert got[("2024Q4", "391", "M", t, "ABROAD")] == 1
    assert got[("2024Q4", "391", t, t, "WAL")] == 0
    assert got[("2024Q1", "321", "F", "Y_GE80", t)] == 1


def test_local_table(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    meta, table = tables["local_position"]
    municipalities = meta.dimensions[1]
    assert municipalities.code == "nis_code"
    assert len(municipalities.values) == 582  # 581 municipalities of 2024 and the total
    assert dict((v.code, v.label) for v in municipalities.values)["11002"] == "Antwerpen"
    got = cells(table, meta)
    t = TOTAL
    assert got[("2024Q4", t, t, t)] == 5  # e lives abroad in Q4
    assert got[("2024Q3", t, t, t)] == 6
    assert got[("2024Q4", "21004", "11", t)] == 1
    assert got[("2024Q4", "21004", "41", "F")] == 1
    assert table.num_rows == 4 * 582 * len(meta.dimensions[2].values) * 4


def test_households(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    meta, table = tables["household_count"]
    assert meta.measure == "households"
    got = cells(table, meta)
    t = TOTAL
    assert got[("2024Q4", "4", "BRU", "2")] == 1  # one household of two persons
    assert got[("2024Q4", t, t, t)] == 4  # a, b, d, hf (e abroad, no household)
    meta, table = tables["household_persons"]
    got = cells(table, meta)
    assert got[("2024Q4", "4", "BRU", "2")] == 2
    assert got[("2024Q4", "9", "ABROAD", "NONE")] == 1


def test_short_mobility(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    meta, table = tables["mobility_short"]
    assert meta.dimensions[0].codes() == ("2024Q2", "2024Q3")  # both neighbours loaded
    got = cells(table, meta)
    t = TOTAL
    assert got[("2024Q2", "2", "2", "1")] == 1  # b: unemployed in Q1, Q2, working in Q3
    assert got[("2024Q2", "3", "3", "0")] == 1  # c: gone in Q3
    assert got[("2024Q2", "0", "3", "3")] == 1  # d: born in Q2
    assert got[("2024Q3", "2", "1", "1")] == 1
    assert got[("2024Q3", t, t, t)] == 6
    assert got[("2024Q2", "1", "1", "1")] == 2  # a and f1


def test_long_mobility(tables: dict[str, tuple[TableMeta, pa.Table]]) -> None:
    meta, table = tables["mobility_long"]
    assert meta.dimensions[0].codes() == ("2024Q1-2024Q4",)
    assert meta.dimensions[3].codes() == (TOTAL, "0", "1", "2", "3", "4")
    got = cells(table, meta)
    p, t = "2024Q1-2024Q4", TOTAL
    assert got[(p, "1", "1", "4")] == 2  # a, f1
    assert got[(p, "2", "1", "2")] == 1  # b
    assert got[(p, "3", "0", "0")] == 1  # c
    assert got[(p, "0", "3", "0")] == 1  # d
    assert got[(p, t, t, t)] == 7
    assert Counter(v for k, v in got.items() if k[1:] == (t, t, "4")) == Counter({2: 1})


def test_values_outside_the_code_lists_fail(tmp_path: Path) -> None:
    root = write_snapshot(tmp_path / "s")
    bad = pq.read_table(root / "quarter=2024Q4" / "part-0.parquet").to_pylist()
    bad[0]["age_class"] = "Y200T300"
    pq.write_table(
        pa.Table.from_pylist(bad, schema=PERSON_QUARTER), root / "quarter=2024Q4" / "part-0.parquet"
    )
    with duckdb.connect() as con, pytest.raises(ValueError, match="outside the code lists"):
        statistics.compute_tables(con, snapshot_dir=root, quarters=QUARTERS, tables=statistics.TABLES[:1])


def test_missing_quarter_fails(tmp_path: Path) -> None:
    root = write_snapshot(tmp_path / "s")
    with duckdb.connect() as con, pytest.raises(FileNotFoundError):
        statistics.compute_tables(con, snapshot_dir=root, quarters=["2023Q4"])


def test_horizon_without_reference_quarter_skips_short_mobility(tmp_path: Path) -> None:
    root = write_snapshot(tmp_path / "s")
    with duckdb.connect() as con:
        out = statistics.compute_tables(con, snapshot_dir=root, quarters=QUARTERS, horizon_quarters=2)
    assert "mobility_short" not in {m.id for m, _ in out}


@pytest.mark.parametrize("table", statistics.TABLES, ids=lambda t: t.id)
@pytest.mark.parametrize("dialect", ["spark", "trino"])
def test_sql_transpiles(table: statistics.TableDef, dialect: str) -> None:
    out = sqlglot.transpile(
        statistics.table_sql(table), read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    assert len(out) == 1
    assert "CUBE" in out[0].upper()


def test_labels_follow_the_language(tmp_path: Path) -> None:
    root = write_snapshot(tmp_path / "s")
    with duckdb.connect() as con:
        [(meta, _)] = statistics.compute_tables(
            con, snapshot_dir=root, quarters=QUARTERS, lang="fr", tables=statistics.TABLES[:1]
        )
    position = meta.dimensions[1]
    assert position.label == "Position socio-économique"
    assert dict((v.code, v.label) for v in position.values)["111"].startswith("Salarié")
    assert meta.updated
    assert meta.unit == "number of persons"
