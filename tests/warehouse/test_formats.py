"""The download formats parse back to the selected cells, and a withheld number appears in none of them."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from kruispunt.warehouse.formats import (
    FORMATS,
    build_cube,
    default_layout,
    layout,
    metadata_jsonstat,
    render,
    to_csv,
    to_jsonstat,
    to_px,
    to_xlsx,
)
from kruispunt.warehouse.published import TableStore
from kruispunt.warehouse.schemas import SUPPRESSED, TOTAL
from tests.warehouse.test_published import GLOBAL, HIDDEN, publish_all

SELECTION = {"region": ["VLG", "WAL", "BRU"], "position": [TOTAL, "2", "3"], "quarter": ["2024Q2", "2024Q4"]}


@pytest.fixture
def store(tmp_path: Path) -> TableStore:
    return publish_all(tmp_path / "tables")


def expected(store: TableStore) -> dict[tuple[str, str, str], tuple[int | None, str]]:
    cells = store.select("global_position", SELECTION)
    cols = [cells[c].to_pylist() for c in ("quarter", "region", "position", "value", "status")]
    return {(q, r, p): (v, s) for q, r, p, v, s in zip(*cols, strict=True)}


def test_layout_defaults_and_errors() -> None:
    assert default_layout(GLOBAL) == (("region", "position"), ("quarter",))
    assert layout(GLOBAL, ["position"], None) == (("position",), ("quarter", "region"))
    assert layout(GLOBAL, None, ["region"]) == (("quarter", "position"), ("region",))
    with pytest.raises(ValueError, match="colour"):
        layout(GLOBAL, ["colour"], None)
    with pytest.raises(ValueError, match="twice"):
        layout(GLOBAL, ["region"], ["region"])


def test_cube_is_row_major_over_stub_then_heading(store: TableStore) -> None:
    cells = store.select("global_position", SELECTION)
    cube = build_cube(GLOBAL, cells, ["region", "position"], ["quarter"])
    assert cube.size == (3, 3, 2)
    assert len(cube.values) == math.prod(cube.size)
    want = expected(store)
    # index of (WAL, 2, 2024Q4) = (1*3 + 1)*2 + 1
    assert cube.values[9] == want[("2024Q4", "WAL", "2")][0] is None
    assert cube.statuses[9] == SUPPRESSED
    assert cube.values[0] == want[("2024Q2", "VLG", TOTAL)][0]


def test_csv_parses_back(store: TableStore) -> None:
    content, fmt = render("csv", GLOBAL, store.select("global_position", SELECTION), ["region"], ["quarter"])
    assert fmt.media_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert len(rows) == 3 * 3 * 2
    want = expected(store)
    for row in rows:
        value, status = want[(row["quarter"], row["region"], row["position"])]
        if status == SUPPRESSED:
            assert (row["value"], row["status"]) == ("", "C")
        else:
            assert (int(row["value"]), row["status"]) == (value, "")
    assert rows[0]["region_label"] == "Flemish Region"
    assert str(HIDDEN) not in content.decode()


def test_xlsx_parses_back_with_title_pivot_and_legend(store: TableStore) -> None:
    cube = build_cube(GLOBAL, store.select("global_position", SELECTION), ["region", "position"], ["quarter"])
    content = to_xlsx(cube)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    grid = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert grid[0][0] == GLOBAL.title
    assert [row[0] for row in grid[1:5]] == [
        "Unit: number of persons",
        f"Source: {GLOBAL.source}",
        f"Updated: {GLOBAL.updated}",
        f"Note: {GLOBAL.notes[0]}",
    ]
    header = next(i for i, row in enumerate(grid) if row[0] == "Region")
    assert grid[header - 1][2:4] == ["2024Q2", "2024Q4"]
    want = expected(store)
    body = grid[header + 1 : header + 1 + 9]
    region_labels = {"Flemish Region": "VLG", "Walloon Region": "WAL", "Brussels <Capital> & Région": "BRU"}
    position_labels = {"All positions": TOTAL, "Job seeker": "2", "Inactive": "3"}
    for row in body:
        for quarter, cell in zip(("2024Q2", "2024Q4"), row[2:4], strict=True):
            value, status = want[(quarter, region_labels[row[0]], position_labels[row[1]])]
            assert cell == ("C" if status == SUPPRESSED else value)
    text = [str(c) for row in grid for c in row if c is not None]
    assert any(t.startswith("C: confidential") for t in text)
    assert any(t.startswith("Source:") for t in text)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            assert str(HIDDEN).encode() not in archive.read(name)


def test_jsonstat_structure(store: TableStore) -> None:
    cube = build_cube(GLOBAL, store.select("global_position", SELECTION), ["region", "position"], ["quarter"])
    data = json.loads(to_jsonstat(cube))
    assert (data["version"], data["class"]) == ("2.0", "dataset")
    assert data["id"] == ["region", "position", "quarter"]
    assert data["size"] == [len(data["dimension"][d]["category"]["index"]) for d in data["id"]] == [3, 3, 2]
    assert len(data["value"]) == math.prod(data["size"])
    assert data["role"] == {"time": ["quarter"]}
    assert data["extension"]["px"]["heading"] == ["quarter"]
    want = expected(store)
    index = {d: data["dimension"][d]["category"]["index"] for d in data["id"]}
    for (quarter, region, position), (value, status) in want.items():
        i = (index["region"][region] * 3 + index["position"][position]) * 2 + index["quarter"][quarter]
        assert data["value"][i] == value
        assert data["status"].get(str(i)) == ("C" if status == SUPPRESSED else None)
    assert data["dimension"]["region"]["extension"]["eliminationValueCode"] == TOTAL
    assert str(HIDDEN) not in json.dumps(data)


def test_metadata_jsonstat_lists_every_value_without_data() -> None:
    data = metadata_jsonstat(GLOBAL)
    assert data["size"] == [4, 4, 4]
    assert "value" not in data
    assert list(data["dimension"]["region"]["category"]["label"]) == [TOTAL, "VLG", "WAL", "BRU"]


def parse_px(text: str) -> dict[str, str]:
    """A tiny PX reader: ``KEYWORD[("sub")]=value;`` entries (values may span lines)."""
    entries: dict[str, str] = {}
    for match in re.finditer(
        r'([A-Z][A-Z0-9-]*(?:\("[^"]*"\))?)=(.*?);\s*(?=[A-Z][A-Z0-9-]*[=(]|$)', text, re.S
    ):
        entries[match.group(1)] = match.group(2).strip()
    return entries


def px_list(value: str) -> list[str]:
    return re.findall(r'"([^"]*)"', value)


def test_px_parses_back(store: TableStore) -> None:
    cube = build_cube(GLOBAL, store.select("global_position", SELECTION), ["region", "position"], ["quarter"])
    text = to_px(cube).decode("utf-8")
    px = parse_px(text)
    for keyword in ("CHARSET", "AXIS-VERSION", "MATRIX", "TITLE", "CONTENTS", "UNITS", "DECIMALS", "DATA"):
        assert keyword in px, keyword
    assert px_list(px["STUB"]) == ["Region", "Socio-economic position"]
    assert px_list(px["HEADING"]) == ["Quarter"]
    assert px_list(px["LAST-UPDATED"]) == ["20250131 10:00"]
    assert px_list(px['VALUES("Region")']) == [
        "Flemish Region",
        "Walloon Region",
        "Brussels <Capital> & Région",
    ]
    assert px_list(px['CODES("Region")']) == ["VLG", "WAL", "BRU"]
    data_lines = [line.split() for line in px["DATA"].splitlines() if line.strip()]
    assert len(data_lines) == 9
    assert all(len(line) == 2 for line in data_lines)
    tokens = [t for line in data_lines for t in line]
    want = expected(store)
    codes_r, codes_p, codes_q = ["VLG", "WAL", "BRU"], [TOTAL, "2", "3"], ["2024Q2", "2024Q4"]
    for i, token in enumerate(tokens):
        r, rest = divmod(i, 6)
        p, q = divmod(rest, 2)
        value, status = want[(codes_q[q], codes_r[r], codes_p[p])]
        assert token == ('".."' if status == SUPPRESSED else str(value))
    assert str(HIDDEN) not in text


def test_every_format_is_registered_with_media_type_and_extension(store: TableStore) -> None:
    cells = store.select("global_position", SELECTION)
    assert set(FORMATS) == {"csv", "xlsx", "px", "json-stat2"}
    for name, fmt in FORMATS.items():
        content, same = render(name, GLOBAL, cells, ["region", "position"], ["quarter"])
        assert same is fmt
        assert content
        assert fmt.media_type
        assert fmt.extension
    assert to_csv(build_cube(GLOBAL, cells, ["region", "position"], ["quarter"]))
