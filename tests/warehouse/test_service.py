"""The quarterly load: only coded extracts are kept, a quarter is replaced whole, and the tables published
from the synthetic nation are protected and recomputed when a quarter is loaded."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kruispunt.coding.arrow import apply_codes, distinct_inszs
from kruispunt.simulate import iter_lives
from kruispunt.warehouse import extract, service
from kruispunt.warehouse.published import TableStore
from kruispunt.warehouse.schemas import SUPPRESSED

QUARTERS = ["2024Q3", "2024Q4"]


def _coded(quarter: str) -> dict[str, pa.Table]:
    people, files = next(iter(iter_lives(3000, 7)))
    raw = {
        "persons": extract.persons_of_batch(people, quarter),
        "files": extract.files_of_batch(files, quarter),
    }
    raw["employers"] = extract.employers_of_files(raw["files"], quarter)
    inszs = sorted({i for t in raw.values() for i in distinct_inszs(t)})
    codes = [f"c{n:08d}" for n in range(len(inszs))]
    return {name: apply_codes(table, inszs, codes) for name, table in raw.items()}


def test_an_uncoded_extract_is_refused_and_the_quarter_kept(tmp_path: Path) -> None:
    folders = service.Folders(tmp_path)
    good = _coded("2024Q4")
    service.write_extracts(folders, "2024Q4", good)
    people, _ = next(iter(iter_lives(3000, 7)))
    uncoded = {**good, "persons": extract.persons_of_batch(people, "2024Q4")}
    with pytest.raises(service.LoadError, match="not coded"):
        service.write_extracts(folders, "2024Q4", uncoded)
    kept = pq.read_table(folders.quarter("2024Q4") / "persons.parquet")
    assert kept.num_rows == good["persons"].num_rows
    assert service.loaded_quarters(folders) == ["2024Q4"]


def test_loading_a_quarter_recomputes_protected_tables(tmp_path: Path) -> None:
    folders = service.Folders(tmp_path)
    first = service.load_quarter(folders, QUARTERS[0], fetch=_coded)
    assert {m.application for m in first} >= {"global", "local", "household", "mobility_long"}
    second = service.load_quarter(folders, QUARTERS[1], fetch=_coded)
    assert service.loaded_quarters(folders) == QUARTERS
    store = TableStore(folders.tables)
    meta, cells = store.load("global_position")
    time = next(d for d in meta.dimensions if d.time)
    assert list(time.codes()) == QUARTERS
    assert len(second) >= len(first)
    values = cells["value"].to_pylist()
    statuses = cells["status"].to_pylist()
    assert all(v is None or v == 0 or v >= 10 for v in values)
    assert all((v is None) == (s == SUPPRESSED) for v, s in zip(values, statuses, strict=True))
    assert any(v is not None and v > 0 for v in values)
