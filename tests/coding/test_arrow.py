"""Replacing identifiers by codes in Arrow tables: every INSZ replaced, households grouped, nothing left."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kruispunt.coding.arrow import apply_codes, code_parquet, distinct_inszs


def _table() -> pa.Table:
    return pa.table(
        {
            "insz": ["85073003328", "60010112345", "85073003328", "99123112345"],
            "household": ["7", "7", "7", None],
            "age": [39, 64, 39, 25],
        }
    )


def test_every_insz_and_household_is_replaced() -> None:
    table = _table()
    inszs = distinct_inszs(table)
    assert sorted(inszs) == ["60010112345", "85073003328", "99123112345"]
    codes = [f"c{i}" for i in range(len(inszs))]
    by_insz = dict(zip(inszs, codes, strict=True))
    coded = apply_codes(table, inszs, codes)
    assert coded.schema.names == ["person_id", "household_id", "age"]
    assert coded["person_id"].to_pylist() == [by_insz[i] for i in table["insz"].to_pylist()]
    # the household is named after its member with the smallest INSZ, whatever the row order
    assert coded["household_id"].to_pylist() == [f"h{by_insz['60010112345']}"] * 3 + [None]
    assert coded["age"].to_pylist() == [39, 64, 39, 25]


def test_a_missing_code_is_an_error_not_a_null() -> None:
    table = _table()
    with pytest.raises(ValueError, match="no code"):
        apply_codes(table, ["85073003328"], ["x"])
    with pytest.raises(ValueError, match="one code per INSZ"):
        apply_codes(table, ["85073003328", "60010112345"], ["x"])


def test_a_table_without_insz_is_left_alone() -> None:
    table = pa.table({"employer_kbo": ["0206731645"], "workers": [3]})
    assert distinct_inszs(table) == []
    assert apply_codes(table, [], []).equals(table)


def test_parquet_files_are_coded_like_tables(tmp_path: Path) -> None:
    table = _table()
    inszs = distinct_inszs(table)
    codes = [f"c{i}" for i in range(len(inszs))]
    pq.write_table(table, tmp_path / "part-0.parquet")
    written = code_parquet(tmp_path / "*.parquet", tmp_path / "coded.parquet", inszs, codes)
    assert written == table.num_rows
    on_disk = pq.read_table(tmp_path / "coded.parquet")
    in_memory = apply_codes(table, inszs, codes)
    assert sorted(on_disk.to_pylist(), key=str) == sorted(in_memory.to_pylist(), key=str)
    with pytest.raises(ValueError, match="no code"):
        code_parquet(tmp_path / "part-0.parquet", tmp_path / "bad.parquet", inszs[:1], codes[:1])
