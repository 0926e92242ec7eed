"""Writers of a selection of a published table to the download formats: CSV, XLSX, JSON-stat 2.0 and PX.

Why one module: the web applications and the PxWeb API offer the same downloads, and every format must
carry the same disclosure-controlled cells (a suppressed cell is written as a symbol, never as a number).
Every writer starts from a :class:`Cube`: the selected cells laid out in a chosen order of dimensions
(``stub`` then ``heading``, the last dimension varying fastest), as PX and JSON-stat expect.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import xlsxwriter

from kruispunt.warehouse.schemas import SUPPRESSED, TOTAL, Dimension, TableMeta

SUPPRESSED_LEGEND = "C: confidential, withheld by disclosure control (statistical secrecy)"
MISSING_LEGEND = ".. : no data for this combination"
PX_SUPPRESSED = ".."
"""PX's dot code for a value that is not available (here: confidential)."""


@dataclass(frozen=True)
class Cube:
    """A selection laid out row-major over ``dimensions`` (each restricted to its selected values)."""

    meta: TableMeta
    dimensions: tuple[Dimension, ...]
    stub: tuple[str, ...]
    heading: tuple[str, ...]
    values: tuple[int | None, ...]
    statuses: tuple[str | None, ...]  # SUPPRESSED, None for an ordinary cell, "" for a missing cell

    @property
    def size(self) -> tuple[int, ...]:
        return tuple(len(d.values) for d in self.dimensions)

    def dimension(self, code: str) -> Dimension:
        return next(d for d in self.dimensions if d.code == code)

    def has_suppressed(self) -> bool:
        return any(s == SUPPRESSED for s in self.statuses)


def default_layout(meta: TableMeta) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Stub and heading when the user chose none: the time dimension (else the last one) in the heading."""
    codes = [d.code for d in meta.dimensions]
    if not codes:
        return (), ()
    time = next((d.code for d in meta.dimensions if d.time), codes[-1])
    return tuple(c for c in codes if c != time), (time,)


def layout(
    meta: TableMeta, stub: Sequence[str] | None = None, heading: Sequence[str] | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Complete a partial placement: every dimension exactly once.

    Unplaced dimensions go to the stub, or to the heading when only a stub was given.

    Raises ``ValueError`` (with a message for the user) for an unknown or twice-placed dimension.
    """
    codes = [d.code for d in meta.dimensions]
    if not stub and not heading:
        return default_layout(meta)
    stub_l = list(stub or ())
    heading_l = list(heading or ())
    for code in stub_l + heading_l:
        if code not in codes:
            raise ValueError(
                f"table {meta.id!r} has no variable {code!r}; its variables are {', '.join(codes)}"
            )
    if len(set(stub_l + heading_l)) != len(stub_l + heading_l):
        raise ValueError("a variable is placed twice (in both stub and heading, or repeated)")
    rest = [c for c in codes if c not in stub_l and c not in heading_l]
    if heading_l:
        stub_l += rest
    else:
        heading_l = rest
    return tuple(stub_l), tuple(heading_l)


def build_cube(meta: TableMeta, cells: pa.Table, stub: Sequence[str], heading: Sequence[str]) -> Cube:
    """Lay out selected ``cells`` (from :meth:`TableStore.select`) over ``stub + heading``.

    Each dimension keeps the values present in ``cells``, in the table's order; a combination without a
    row (never the case for a complete published table) becomes a missing cell.
    """
    order = list(stub) + list(heading)
    by_code = {d.code: d for d in meta.dimensions}
    if sorted(order) != sorted(by_code):
        raise ValueError("stub and heading must together list every dimension exactly once")
    columns = {code: cells[code].to_pylist() for code in order}
    values = cells["value"].to_pylist()
    statuses = cells["status"].to_pylist()
    present = {code: set(columns[code]) for code in order}
    dims = tuple(
        Dimension(
            code=code,
            label=by_code[code].label,
            values=tuple(v for v in by_code[code].values if v.code in present[code]),
            time=by_code[code].time,
        )
        for code in order
    )
    lookup: dict[tuple[str, ...], tuple[int | None, str]] = {}
    for i in range(cells.num_rows):
        key = tuple(columns[code][i] for code in order)
        lookup[key] = (values[i], statuses[i])
    out_values: list[int | None] = []
    out_status: list[str | None] = []
    for key in itertools.product(*(d.codes() for d in dims)):
        found = lookup.get(key)
        if found is None:
            out_values.append(None)
            out_status.append("")
        elif found[1] == SUPPRESSED:
            out_values.append(None)  # never the stored number, even if one were there
            out_status.append(SUPPRESSED)
        else:
            out_values.append(found[0])
            out_status.append(None)
    if not dims:
        out_values, out_status = [], []
    return Cube(meta, dims, tuple(stub), tuple(heading), tuple(out_values), tuple(out_status))


def cell_symbol(value: int | None, status: str | None) -> str:
    """How a cell is shown to people: the number, ``C`` when suppressed, ``..`` when missing."""
    if status == SUPPRESSED:
        return SUPPRESSED
    if value is None:
        return ".."
    return str(value)


def _legend(cube: Cube) -> list[str]:
    lines = [SUPPRESSED_LEGEND] if cube.has_suppressed() else []
    if any(s == "" for s in cube.statuses):
        lines.append(MISSING_LEGEND)
    return lines


def pivot(cube: Cube) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], list[list[int]]]:
    """Row keys (stub codes), column keys (heading codes) and the cell index of each (row, column)."""
    stub_dims = cube.dimensions[: len(cube.stub)]
    head_dims = cube.dimensions[len(cube.stub) :]
    rows = list(itertools.product(*(d.codes() for d in stub_dims)))
    cols = list(itertools.product(*(d.codes() for d in head_dims)))
    width = len(cols)
    grid = [[r * width + c for c in range(width)] for r in range(len(rows))]
    return rows, cols, grid


# -------------------------------------------------------------------------------------------------- CSV


def to_csv(cube: Cube) -> bytes:
    """Long format, one row per cell: code and label per dimension, ``value`` (empty if withheld), ``status``.

    ``status`` is ``C`` for a confidential cell (the number is withheld), ``..`` for a missing one.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header: list[str] = []
    for d in cube.dimensions:
        header += [d.code, f"{d.code}_label"]
    writer.writerow([*header, "value", "status"])
    labels = [{v.code: v.label for v in d.values} for d in cube.dimensions]
    for i, key in enumerate(itertools.product(*(d.codes() for d in cube.dimensions))):
        row: list[str] = []
        for j, code in enumerate(key):
            row += [code, labels[j][code]]
        value, status = cube.values[i], cube.statuses[i]
        shown_status = SUPPRESSED if status == SUPPRESSED else (".." if status == "" else "")
        writer.writerow([*row, "" if value is None else str(value), shown_status])
    return out.getvalue().encode("utf-8")


# -------------------------------------------------------------------------------------------------- XLSX


def to_xlsx(cube: Cube) -> bytes:
    """A sheet: a header (title, unit, source, notes), the pivot (stub as rows, heading as columns)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    sheet = book.add_worksheet("Table")
    bold = book.add_format({"bold": True})
    title = book.add_format({"bold": True, "font_size": 13})
    meta = cube.meta
    sheet.write_string(0, 0, meta.title, title)
    header = [f"Unit: {meta.unit}", f"Source: {meta.source}"]
    if meta.updated:
        header.append(f"Updated: {meta.updated}")
    header += [f"Note: {n}" for n in meta.notes]
    for i, text in enumerate(header, start=1):
        sheet.write_string(i, 0, text)
    stub_dims = cube.dimensions[: len(cube.stub)]
    head_dims = cube.dimensions[len(cube.stub) :]
    rows, cols, grid = pivot(cube)
    top = len(header) + 2
    n_stub = max(len(stub_dims), 1)
    stub_labels = [{v.code: v.label for v in d.values} for d in stub_dims]
    head_labels = [{v.code: v.label for v in d.values} for d in head_dims]
    for h, dim in enumerate(head_dims):
        sheet.write_string(top + h, n_stub - 1, dim.label, bold)
        for c, key in enumerate(cols):
            sheet.write_string(top + h, n_stub + c, head_labels[h][key[h]], bold)
    header_row = top + len(head_dims)
    for s, dim in enumerate(stub_dims):
        sheet.write_string(header_row, s, dim.label, bold)
    for r, key in enumerate(rows):
        for s in range(len(stub_dims)):
            sheet.write_string(header_row + 1 + r, s, stub_labels[s][key[s]])
        for c in range(len(cols)):
            index = grid[r][c]
            value, status = cube.values[index], cube.statuses[index]
            if value is not None and status is None:
                sheet.write_number(header_row + 1 + r, n_stub + c, value)
            else:
                sheet.write_string(header_row + 1 + r, n_stub + c, cell_symbol(value, status))
    line = header_row + 2 + len(rows)
    for text in _legend(cube):
        sheet.write_string(line, 0, text)
        line += 1
    sheet.set_column(0, n_stub - 1, 28)
    book.close()
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------- JSON-stat


def _jsonstat_dimension(dim: Dimension, full: Dimension | None = None) -> dict[str, Any]:
    extension: dict[str, Any] = {"show": "value"}
    source = full or dim
    if TOTAL in source.codes():
        extension.update({"elimination": True, "eliminationValueCode": TOTAL})
    else:
        extension["elimination"] = False
    return {
        "label": dim.label,
        "category": {
            "index": {v.code: i for i, v in enumerate(dim.values)},
            "label": {v.code: v.label for v in dim.values},
        },
        "extension": extension,
    }


def _jsonstat_head(meta: TableMeta, dims: Sequence[Dimension]) -> dict[str, Any]:
    full = {d.code: d for d in meta.dimensions}
    body: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "label": meta.title,
        "source": meta.source,
        "updated": meta.updated or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "id": [d.code for d in dims],
        "size": [len(d.values) for d in dims],
        "dimension": {d.code: _jsonstat_dimension(d, full.get(d.code)) for d in dims},
        "extension": {"px": {"tableid": meta.id, "decimals": 0}, "unit": meta.unit, "measure": meta.measure},
    }
    time = [d.code for d in dims if d.time]
    if time:
        body["role"] = {"time": time}
    return body


def metadata_jsonstat(meta: TableMeta) -> dict[str, Any]:
    """The table's metadata as a JSON-stat 2.0 dataset without values (PxWebApi ``/metadata``)."""
    body = _jsonstat_head(meta, meta.dimensions)
    notes = [*meta.notes, SUPPRESSED_LEGEND]
    body["note"] = notes
    return body


def jsonstat_dict(cube: Cube) -> dict[str, Any]:
    body = _jsonstat_head(cube.meta, cube.dimensions)
    body["extension"]["px"].update({"stub": list(cube.stub), "heading": list(cube.heading)})
    body["value"] = list(cube.values)
    status = {str(i): (s or "..") for i, s in enumerate(cube.statuses) if s is not None}
    if status:
        body["status"] = status
    notes = [*cube.meta.notes, *_legend(cube)]
    if notes:
        body["note"] = notes
    return body


def to_jsonstat(cube: Cube) -> bytes:
    """A JSON-stat 2.0 dataset: ``value`` null and ``status`` ``C`` for a withheld cell."""
    return json.dumps(jsonstat_dict(cube), ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------------------------------- PX


def _px_string(text: str) -> str:
    """A PX quoted string: PX strings cannot contain a double quote or a line break."""
    cleaned = text.replace('"', "'").replace("\r", " ").replace("\n", " ").replace(";", ",")
    return f'"{cleaned}"'


def _px_list(items: Sequence[str]) -> str:
    return ",\n".join(_px_string(i) for i in items)


def _px_date(iso: str) -> str:
    """PX dates are ``CCYYMMDD hh:mm``; an unparsable timestamp is kept as it is."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.strftime("%Y%m%d %H:%M")


def to_px(cube: Cube) -> bytes:
    """A PX (2013) file in UTF-8 (``CODEPAGE="utf-8"``): STUB/HEADING, VALUES and CODES, ``".."`` withheld."""
    meta = cube.meta
    now = datetime.now(UTC).strftime("%Y%m%d %H:%M")
    lines = [
        'CHARSET="ANSI";',
        'AXIS-VERSION="2013";',
        'CODEPAGE="utf-8";',
        'LANGUAGE="en";',
        f'CREATION-DATE="{now}";',
        "DECIMALS=0;",
        "SHOWDECIMALS=0;",
        f"MATRIX={_px_string(meta.id)};",
        f"SUBJECT-CODE={_px_string(meta.application)};",
        f"SUBJECT-AREA={_px_string(meta.application)};",
        f"CONTENTS={_px_string(meta.title)};",
        f"TITLE={_px_string(meta.title)};",
        f"UNITS={_px_string(meta.unit)};",
        f"STUB={_px_list([cube.dimension(c).label for c in cube.stub])};",
        f"HEADING={_px_list([cube.dimension(c).label for c in cube.heading])};",
    ]
    for dim in cube.dimensions:
        lines.append(f"VALUES({_px_string(dim.label)})={_px_list([v.label for v in dim.values])};")
    for dim in cube.dimensions:
        lines.append(f"CODES({_px_string(dim.label)})={_px_list(list(dim.codes()))};")
    for dim in cube.dimensions:
        lines.append(f"VARIABLECODE({_px_string(dim.label)})={_px_string(dim.code)};")
        if TOTAL in dim.codes():
            total = next(v.label for v in dim.values if v.code == TOTAL)
            lines.append(f"ELIMINATION({_px_string(dim.label)})={_px_string(total)};")
    if meta.updated:
        lines.append(f"LAST-UPDATED={_px_string(_px_date(meta.updated))};")
    lines.append(f"SOURCE={_px_string(meta.source)};")
    notes = [*meta.notes, *_legend(cube)]
    if notes:
        lines.append(f"NOTE={_px_string(' '.join(notes))};")
    lines.append(f"DATASYMBOL2={_px_string('confidential')};")
    lines.append("DATA=")
    width = 1
    for code in cube.heading:
        width *= len(cube.dimension(code).values)
    cells = [
        str(v) if v is not None and s is None else f'"{PX_SUPPRESSED}"'
        for v, s in zip(cube.values, cube.statuses, strict=True)
    ]
    width = max(width, 1)
    for start in range(0, len(cells), width):
        lines.append(" ".join(cells[start : start + width]))
    lines.append(";")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# ------------------------------------------------------------------------------------------------ registry


@dataclass(frozen=True)
class OutputFormat:
    name: str  # PxWebApi outputFormat
    label: str
    media_type: str
    extension: str
    write: Callable[[Cube], bytes]


FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat("json-stat2", "JSON-stat 2.0", "application/json; charset=utf-8", "json", to_jsonstat),
        OutputFormat("csv", "CSV", "text/csv; charset=utf-8", "csv", to_csv),
        OutputFormat(
            "xlsx",
            "Excel (XLSX)",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
            to_xlsx,
        ),
        OutputFormat("px", "PX", "application/octet-stream", "px", to_px),
    )
}
"""The download formats by their PxWebApi ``outputFormat`` name."""


def render(
    name: str, meta: TableMeta, cells: pa.Table, stub: Sequence[str], heading: Sequence[str]
) -> tuple[bytes, OutputFormat]:
    """The bytes of ``cells`` in format ``name`` (a key of :data:`FORMATS`) and the format's description.

    A partial placement is completed by :func:`layout`.
    """
    fmt = FORMATS[name]
    stub, heading = layout(meta, stub, heading)
    return fmt.write(build_cube(meta, cells, stub, heading)), fmt
