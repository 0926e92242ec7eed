"""The store of published tables; also the fixture builders the other publication tests import."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kruispunt.warehouse.published import (
    InvalidSelection,
    InvalidTable,
    TableStore,
    UnknownDimension,
    UnknownTable,
    UnknownValue,
    write_table,
)
from kruispunt.warehouse.schemas import SUPPRESSED, TOTAL, Dimension, TableMeta, Value, cells_schema

HIDDEN = 987654321
"""The number put in the source data of every suppressed cell: it must never come out anywhere."""

QUARTER = Dimension(
    "quarter", "Quarter", tuple(Value(q, q) for q in ("2024Q1", "2024Q2", "2024Q3", "2024Q4")), time=True
)
REGION = Dimension(
    "region",
    "Region",
    (
        Value(TOTAL, "Belgium"),
        Value("VLG", "Flemish Region"),
        Value("WAL", "Walloon Region"),
        Value("BRU", "Brussels <Capital> & Région"),
    ),
)
POSITION = Dimension(
    "position",
    "Socio-economic position",
    (Value(TOTAL, "All positions"), Value("1", "Working"), Value("2", "Job seeker"), Value("3", "Inactive")),
)
SEX = Dimension("sex", "Sex", (Value(TOTAL, "Total"), Value("M", "Men"), Value("F", "Women")))

GLOBAL = TableMeta(
    id="global_position",
    application="global",
    title="Population by socio-economic position, region and quarter",
    dimensions=(QUARTER, REGION, POSITION),
    updated="2025-01-31T10:00:00Z",
    notes=("Position on the last day of the quarter.",),
)
LOCAL = TableMeta(
    id="local_sex",
    application="local",
    title="Population by region and sex",
    dimensions=(REGION, SEX),
    updated="2025-01-31T10:00:00Z",
)
HOUSEHOLD = TableMeta(
    id="household_size",
    application="household",
    title="Persons in a household by quarter",
    dimensions=(QUARTER,),
)

GLOBAL_SUPPRESSED: set[tuple[str, ...]] = {("2024Q2", "BRU", "3"), ("2024Q4", "WAL", "2")}
LOCAL_SUPPRESSED: set[tuple[str, ...]] = {("BRU", "F")}


def leaf_value(key: tuple[str, ...]) -> int:
    """A deterministic small number per detailed cell (never near HIDDEN)."""
    return 7 + sum((i + 3) * (sum(map(ord, code)) % 17) for i, code in enumerate(key))


def cube(meta: TableMeta, suppressed: set[tuple[str, ...]]) -> pa.Table:
    """A complete cube with its TOTAL margins; ``suppressed`` cells carry HIDDEN in their source value."""
    leaves = [[c for c in d.codes() if c != TOTAL] for d in meta.dimensions]
    columns: dict[str, list[object]] = {d.code: [] for d in meta.dimensions}
    values: list[int | None] = []
    statuses: list[str] = []
    for key in itertools.product(*(d.codes() for d in meta.dimensions)):
        choices = [leaves[i] if code == TOTAL else [code] for i, code in enumerate(key)]
        total = sum(leaf_value(leaf) for leaf in itertools.product(*choices))
        for dim, code in zip(meta.dimensions, key, strict=True):
            columns[dim.code].append(code)
        if key in suppressed:
            values.append(HIDDEN)
            statuses.append(SUPPRESSED)
        else:
            values.append(total)
            statuses.append("A")
    return pa.table({**columns, "value": values, "status": statuses}, schema=cells_schema(meta))


def publish_all(folder: Path) -> TableStore:
    write_table(folder, GLOBAL, cube(GLOBAL, GLOBAL_SUPPRESSED))
    write_table(folder, LOCAL, cube(LOCAL, LOCAL_SUPPRESSED))
    write_table(folder, HOUSEHOLD, cube(HOUSEHOLD, set()))
    return TableStore(folder)


@pytest.fixture
def store(tmp_path: Path) -> TableStore:
    return publish_all(tmp_path / "tables")


def test_tables_and_meta_round_trip(store: TableStore) -> None:
    listed = store.tables()
    assert [m.id for m in listed] == ["global_position", "household_size", "local_sex"]
    assert store.meta("global_position") == GLOBAL
    meta, cells = store.load("local_sex")
    assert meta == LOCAL
    assert cells.num_rows == 4 * 3


def test_unselected_dimensions_take_their_total_or_all(store: TableStore) -> None:
    cells = store.select("global_position", {})
    assert cells.column("quarter").to_pylist() == list(QUARTER.codes())  # no total: all quarters
    assert set(cells.column("region").to_pylist()) == {TOTAL}
    assert set(cells.column("position").to_pylist()) == {TOTAL}
    expected = sum(leaf_value(("2024Q1", r, p)) for r in ("VLG", "WAL", "BRU") for p in ("1", "2", "3"))
    assert cells.column("value").to_pylist()[0] == expected


def test_select_returns_cells_in_table_order(store: TableStore) -> None:
    cells = store.select("global_position", {"region": ["BRU", "VLG"], "quarter": ["2024Q3", "2024Q1"]})
    keys = list(zip(cells["quarter"].to_pylist(), cells["region"].to_pylist(), strict=True))
    assert keys == [("2024Q1", "VLG"), ("2024Q1", "BRU"), ("2024Q3", "VLG"), ("2024Q3", "BRU")]


def test_unknown_table_dimension_value_and_empty_selection(store: TableStore) -> None:
    with pytest.raises(UnknownTable, match="nope"):
        store.meta("nope")
    with pytest.raises(UnknownTable):
        store.select("../tables/global_position", {})
    with pytest.raises(UnknownDimension, match="colour"):
        store.select("global_position", {"colour": ["red"]})
    with pytest.raises(UnknownValue, match="XX"):
        store.select("global_position", {"region": ["VLG", "XX"]})
    with pytest.raises(InvalidSelection):
        store.select("global_position", {"region": []})


def test_a_suppressed_number_is_never_stored(store: TableStore, tmp_path: Path) -> None:
    raw = pq.read_table(tmp_path / "tables" / "global_position.parquet")
    suppressed = [
        (q, r, p, v)
        for q, r, p, v, s in zip(
            *(raw[c].to_pylist() for c in ("quarter", "region", "position", "value", "status")), strict=True
        )
        if s == SUPPRESSED
    ]
    assert {(q, r, p) for q, r, p, _ in suppressed} == GLOBAL_SUPPRESSED
    assert all(v is None for *_, v in suppressed)
    assert HIDDEN not in raw["value"].to_pylist()
    everything = store.select("global_position", {d.code: list(d.codes()) for d in GLOBAL.dimensions})
    assert everything.num_rows == 4 * 4 * 4
    assert HIDDEN not in everything["value"].to_pylist()


def test_write_refuses_inconsistent_cells(tmp_path: Path) -> None:
    good = cube(LOCAL, set())
    bad = good.set_column(0, "region", pa.array(["XX"] * good.num_rows))
    with pytest.raises(InvalidTable, match="unknown code"):
        write_table(tmp_path, LOCAL, bad)
    with pytest.raises(InvalidTable, match="repeat"):
        write_table(tmp_path, LOCAL, pa.concat_tables([good, good.slice(0, 1)]))
    values = [None, *good["value"].to_pylist()[1:]]
    with pytest.raises(InvalidTable, match="no value"):
        write_table(tmp_path, LOCAL, good.set_column(2, "value", pa.array(values, pa.int64())))
    with pytest.raises(InvalidTable, match="not a valid id"):
        write_table(tmp_path, TableMeta("../x", "local", "x", LOCAL.dimensions), good)
    assert not list(tmp_path.iterdir())


def test_rewrite_replaces_atomically_and_the_cache_follows(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    write_table(folder, HOUSEHOLD, cube(HOUSEHOLD, set()))
    store = TableStore(folder)
    first = store.select("household_size", {})["value"].to_pylist()
    changed = cube(HOUSEHOLD, set())
    changed = changed.set_column(
        changed.schema.get_field_index("value"), "value", pa.array([v + 1 for v in first], pa.int64())
    )
    write_table(folder, HOUSEHOLD, changed)
    assert store.select("household_size", {})["value"].to_pylist() == [v + 1 for v in first]
    assert sorted(p.name for p in folder.iterdir()) == ["household_size.json", "household_size.parquet"]


def test_an_empty_or_missing_folder_has_no_tables(tmp_path: Path) -> None:
    assert TableStore(tmp_path / "absent").tables() == []


def test_stray_files_are_not_listed(store: TableStore) -> None:
    (store.folder / "notes.json").write_text("{}")
    (store.folder / "notes.parquet").write_bytes(b"")
    (store.folder / "orphan.json").write_text("{}")
    assert [m.id for m in store.tables()] == ["global_position", "household_size", "local_sex"]
