"""The quarterly load: only coded extracts are kept, a quarter is replaced whole, and the tables published
from the synthetic nation are protected and recomputed when a quarter is loaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kruispunt.coding.arrow import apply_codes, distinct_inszs
from kruispunt.simulate import iter_lives
from kruispunt.warehouse import disclosure, extract, service
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


# ------------------------------------------------------------------------------------------- review fixes


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_replacement_stopped_between_its_renames_is_recovered(tmp_path: Path) -> None:
    """A crash after the quarter was moved to ``.old`` and before the new one took its place: the next
    write, even a refused one, puts the quarter back instead of leaving it (only) in ``.old``."""
    folders = service.Folders(tmp_path)
    good = _coded("2024Q4")
    service.write_extracts(folders, "2024Q4", good)
    before = _files(folders.quarter("2024Q4"))
    target = folders.quarter("2024Q4")
    target.rename(target.with_name(target.name + ".old"))  # the state the crash left
    people, _ = next(iter(iter_lives(3000, 7)))
    with pytest.raises(service.LoadError, match="not coded"):
        service.write_extracts(
            folders, "2024Q4", {**good, "persons": extract.persons_of_batch(people, "2024Q4")}
        )
    assert service.loaded_quarters(folders) == ["2024Q4"]
    assert _files(folders.quarter("2024Q4")) == before


def test_a_failed_rename_keeps_the_quarter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folders = service.Folders(tmp_path)
    service.write_extracts(folders, "2024Q4", _coded("2024Q4"))
    before = _files(folders.quarter("2024Q4"))
    real = os.replace

    def failing(src: Any, dst: Any) -> None:
        if str(src).endswith(".tmp"):
            raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr(service.os, "replace", failing)
    with pytest.raises(OSError, match="disk full"):
        service.write_extracts(folders, "2024Q4", _coded("2024Q4"))
    assert _files(folders.quarter("2024Q4")) == before


def test_a_failed_load_keeps_the_quarter_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folders = service.Folders(tmp_path)
    service.load_quarter(folders, "2024Q4", fetch=_coded)
    extracts_before = _files(folders.quarter("2024Q4"))
    snapshot_before = pq.read_table(folders.snapshot / "quarter=2024Q4").sort_by("person_id")
    tables_before = _files(folders.tables)

    def fewer(quarter: str) -> dict[str, pa.Table]:
        tables = _coded(quarter)
        return {**tables, "persons": tables["persons"].slice(0, 100)}

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the tables cannot be computed")

    monkeypatch.setattr(service.statistics, "compute_tables", broken)
    with pytest.raises(RuntimeError, match="cannot be computed"):
        service.load_quarter(folders, "2024Q4", fetch=fewer)
    assert _files(folders.quarter("2024Q4")) == extracts_before
    assert pq.read_table(folders.snapshot / "quarter=2024Q4").sort_by("person_id").equals(snapshot_before)
    assert _files(folders.tables) == tables_before
    assert sorted(p.name for p in folders.extracts.iterdir()) == ["quarter=2024Q4"]


def test_a_failed_first_load_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folders = service.Folders(tmp_path)

    def unprotectable(meta: Any, *args: Any, **kwargs: Any) -> Any:
        raise disclosure.UnprotectableTable(f"table {meta.id}: 1 withheld cell found no hypercube")

    monkeypatch.setattr(service.disclosure, "protect", unprotectable)
    with pytest.raises(service.LoadError, match="no hypercube"):
        service.load_quarter(folders, "2024Q4", fetch=_coded)
    assert service.loaded_quarters(folders) == []
    assert not (folders.snapshot / "quarter=2024Q4").exists()
    assert not folders.tables.exists() or not list(folders.tables.iterdir())


def test_an_extract_that_does_not_fit_is_a_load_error_that_quotes_no_value(tmp_path: Path) -> None:
    folders = service.Folders(tmp_path)
    good = _coded("2024Q4")
    persons = good["persons"]
    index = persons.schema.get_field_index("age")
    bad = persons.set_column(index, "age", pa.array(["85073003328"] * persons.num_rows))
    with pytest.raises(service.LoadError) as refused:
        service.write_extracts(folders, "2024Q4", {**good, "persons": bad})
    assert "85073003328" not in str(refused.value)
    with pytest.raises(service.LoadError, match="missing"):
        service.write_extracts(folders, "2024Q4", {"persons": persons})
    assert service.loaded_quarters(folders) == []


def test_a_hub_answer_that_is_not_arrow_is_a_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"<html>gateway</html>"))
    real = httpx.Client
    monkeypatch.setattr(service.httpx, "Client", lambda **kw: real(transport=transport, **kw))
    with pytest.raises(service.LoadError, match="not an Arrow stream"):
        service.fetch_extracts("http://hub", "2024Q4")


def test_households_withheld_in_one_table_are_withheld_in_the_other(tmp_path: Path) -> None:
    """In a size class of one size, persons = size × households: a count of households withheld in
    ``household_count`` but whose persons are published in ``household_persons`` is read off by division."""
    folders = service.Folders(tmp_path)
    service.load_quarter(folders, "2024Q4", fetch=_coded)
    store = TableStore(folders.tables)
    keys = ["quarter", "household_type", "region", "household_size_class"]

    def cells(table_id: str) -> dict[tuple[str, ...], tuple[int | None, str]]:
        _, table = store.load(table_id)
        return {tuple(r[k] for k in keys): (r["value"], r["status"]) for r in table.to_pylist()}

    persons, households = cells("household_persons"), cells("household_count")
    sized = [key for key in households if key[3] in ("1", "2", "3", "4")]
    withheld = [key for key in sized if households[key][1] == SUPPRESSED]
    assert withheld  # the synthetic nation has small household cells
    assert [key for key in withheld if persons[key][1] != SUPPRESSED] == []
    exact = [key for key in sized if households[key][0] and persons[key][0] is not None]
    assert all(persons[k][0] == int(k[3]) * households[k][0] for k in exact)  # the relation is real
