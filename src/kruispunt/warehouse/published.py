"""The store of published tables: one Parquet file of cells and one JSON of metadata per table, in a folder.

Why this shape: the web applications and the PxWeb API read the same files, so the numbers on a page and in
a download are the same by construction. A table is replaced atomically (written to a temporary file, then
renamed), so a reader never sees half a table; the metadata is also embedded in the Parquet file, so cells
and metadata are always read as one consistent pair. A suppressed cell's number is never stored: the
writer forces its ``value`` to NULL whatever it is given.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kruispunt.warehouse.schemas import SUPPRESSED, TOTAL, Dimension, TableMeta, Value, cells_schema

TABLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
"""A table id is also a file name: no path separators, no leading dot."""

_META_KEY = b"kruispunt.table_meta"

_Stamp = tuple[int, int, int]
_T = TypeVar("_T")


class PublishedError(Exception):
    """A request for published data that cannot be answered; ``message`` says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTable(PublishedError):
    def __init__(self, table_id: str) -> None:
        super().__init__(f"no published table with id {table_id!r}")
        self.table_id = table_id


class UnknownDimension(PublishedError):
    def __init__(self, table_id: str, dimension: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"table {table_id!r} has no variable {dimension!r}; its variables are {', '.join(known)}"
        )
        self.dimension = dimension


class UnknownValue(PublishedError):
    def __init__(self, dimension: str, value: str) -> None:
        super().__init__(f"variable {dimension!r} has no value {value!r}")
        self.dimension = dimension
        self.value = value


class InvalidSelection(PublishedError):
    """A selection that names known things but cannot be answered (e.g. no value chosen)."""


class InvalidTable(ValueError):
    """Raised by :func:`write_table` for cells that do not fit the metadata (a bug of the producer)."""


# ------------------------------------------------------------------------------------------ metadata JSON


def meta_to_json(meta: TableMeta) -> dict[str, Any]:
    return asdict(meta)


def meta_from_json(data: dict[str, Any]) -> TableMeta:
    dimensions = tuple(
        Dimension(
            code=d["code"],
            label=d["label"],
            values=tuple(Value(code=v["code"], label=v["label"]) for v in d["values"]),
            time=bool(d.get("time", False)),
        )
        for d in data["dimensions"]
    )
    return TableMeta(
        id=data["id"],
        application=data["application"],
        title=data["title"],
        dimensions=dimensions,
        measure=data.get("measure", "persons"),
        unit=data.get("unit", "number of persons"),
        updated=data.get("updated", ""),
        source=data.get("source", TableMeta.source),
        notes=tuple(data.get("notes", ())),
    )


# ------------------------------------------------------------------------------------------------ writing


def _check_meta(meta: TableMeta) -> None:
    if not TABLE_ID.match(meta.id):
        raise InvalidTable(f"table id {meta.id!r} is not a valid id (letters, digits, '_', '-', '.')")
    seen: set[str] = set()
    for dim in meta.dimensions:
        if dim.code in seen or dim.code in ("value", "status"):
            raise InvalidTable(f"dimension code {dim.code!r} is repeated or reserved")
        seen.add(dim.code)
        codes = dim.codes()
        if not codes or len(set(codes)) != len(codes):
            raise InvalidTable(f"dimension {dim.code!r} has no values or repeated value codes")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(folder: Path, meta: TableMeta, cells: pa.Table) -> None:
    """Publish ``cells`` (see :func:`cells_schema`) as ``meta.id`` in ``folder``, replacing an earlier one.

    Suppressed cells (status ``SUPPRESSED``) are written with ``value`` NULL whatever ``cells`` holds.
    Refuses cells with unknown codes, repeated combinations or a missing value for an unsuppressed cell.
    """
    _check_meta(meta)
    schema = cells_schema(meta)
    missing = [name for name in schema.names if name not in cells.column_names]
    if missing:
        raise InvalidTable(f"cells of {meta.id!r} lack columns {missing}")
    cells = cells.select(schema.names)
    try:
        cells = cells.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise InvalidTable(f"cells of {meta.id!r} do not fit the schema: {exc}") from exc
    for dim in meta.dimensions:
        unknown = pc.invert(pc.is_in(cells[dim.code], value_set=pa.array(dim.codes(), pa.string())))
        if pc.any(unknown).as_py():
            bad = pc.filter(cells[dim.code], unknown)[0].as_py()
            raise InvalidTable(f"cells of {meta.id!r}: {dim.code} has unknown code {bad!r}")
    keys = [d.code for d in meta.dimensions]
    if keys and cells.group_by(keys).aggregate([]).num_rows != cells.num_rows:
        raise InvalidTable(f"cells of {meta.id!r} repeat a combination of codes")
    suppressed = pc.equal(cells["status"], SUPPRESSED)
    value = pc.if_else(suppressed, pa.scalar(None, pa.int64()), cells["value"])
    if pc.any(pc.and_(pc.invert(suppressed), pc.is_null(value))).as_py():
        raise InvalidTable(f"cells of {meta.id!r}: a cell that is not suppressed has no value")
    cells = cells.set_column(cells.schema.get_field_index("value"), "value", value)
    meta_json = json.dumps(meta_to_json(meta), ensure_ascii=False, indent=1).encode("utf-8")
    cells = cells.replace_schema_metadata({_META_KEY: meta_json})

    folder.mkdir(parents=True, exist_ok=True)
    sink = pa.BufferOutputStream()
    pq.write_table(cells, sink, compression="zstd")
    _atomic_write(folder / f"{meta.id}.parquet", sink.getvalue().to_pybytes())
    _atomic_write(folder / f"{meta.id}.json", meta_json)


# ------------------------------------------------------------------------------------------------ reading


class TableStore:
    """Reads the published tables of a folder; reads are cached until a file changes (inode, mtime, size)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[_Stamp, tuple[TableMeta, pa.Table]]] = {}
        self._meta_cache: dict[str, tuple[_Stamp, TableMeta]] = {}

    def _path(self, table_id: str, suffix: str) -> Path:
        if not TABLE_ID.match(table_id):
            raise UnknownTable(table_id)
        return self.folder / f"{table_id}{suffix}"

    def _lookup(
        self, table_id: str, suffix: str, cache: Mapping[str, tuple[_Stamp, _T]]
    ) -> tuple[Path, _Stamp, _T | None]:
        """The table's file, its stamp, and what ``cache`` holds for it if the file has not changed since.

        :class:`UnknownTable` if the file is missing.
        """
        path = self._path(table_id, suffix)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise UnknownTable(table_id) from None
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a rename gives a new inode
        with self._lock:
            cached = cache.get(table_id)
        if cached is not None and cached[0] == stamp:
            return path, stamp, cached[1]
        return path, stamp, None

    def tables(self) -> list[TableMeta]:
        """Every published table, sorted by application then id."""
        found: list[TableMeta] = []
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob("*.json")):
            table_id = path.stem
            if not TABLE_ID.match(table_id) or not (self.folder / f"{table_id}.parquet").exists():
                continue
            try:
                found.append(self.meta(table_id))
            except (UnknownTable, ValueError, KeyError, TypeError):
                continue  # removed meanwhile, or not a table's metadata: not listed
        return sorted(found, key=lambda m: (m.application, m.id))

    def meta(self, table_id: str) -> TableMeta:
        """The metadata of a table (from its JSON); :class:`UnknownTable` if none."""
        path, stamp, cached = self._lookup(table_id, ".json", self._meta_cache)
        if cached is not None:
            return cached
        try:
            meta = meta_from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UnknownTable(table_id) from None
        with self._lock:
            self._meta_cache[table_id] = (stamp, meta)
        return meta

    def load(self, table_id: str) -> tuple[TableMeta, pa.Table]:
        """The metadata and all cells of a table, read together from its Parquet file."""
        path, stamp, cached = self._lookup(table_id, ".parquet", self._cache)
        if cached is not None:
            return cached
        try:
            cells = pq.read_table(path)
        except FileNotFoundError:
            raise UnknownTable(table_id) from None
        raw = (cells.schema.metadata or {}).get(_META_KEY)
        meta = meta_from_json(json.loads(raw)) if raw else self.meta(table_id)
        cells = cells.replace_schema_metadata(None)
        with self._lock:
            self._cache[table_id] = (stamp, (meta, cells))
        return meta, cells

    def resolve(self, meta: TableMeta, selection: dict[str, list[str]]) -> dict[str, list[str]]:
        """The codes chosen per dimension, for every dimension, in the table's order.

        Unselected dimensions get their TOTAL if it exists, else all their values.
        """
        by_code = {d.code: d for d in meta.dimensions}
        for name in selection:
            if name not in by_code:
                raise UnknownDimension(meta.id, name, tuple(by_code))
        chosen: dict[str, list[str]] = {}
        for dim in meta.dimensions:
            codes = dim.codes()
            if dim.code in selection:
                wanted = selection[dim.code]
                for code in wanted:
                    if code not in codes:
                        raise UnknownValue(dim.code, code)
                if not wanted:
                    raise InvalidSelection(f"no value selected for variable {dim.code!r}")
                wanted_set = set(wanted)
                chosen[dim.code] = [c for c in codes if c in wanted_set]
            elif TOTAL in codes:
                chosen[dim.code] = [TOTAL]
            else:
                chosen[dim.code] = list(codes)
        return chosen

    def select(self, table_id: str, selection: dict[str, list[str]]) -> pa.Table:
        """The cells for the chosen codes per dimension, sorted in the table's order of dimensions and values.

        ``selection`` maps a dimension code to the codes wanted; see :meth:`resolve` for the others.
        """
        meta, cells = self.load(table_id)
        chosen = self.resolve(meta, selection)
        mask: pa.ChunkedArray | pa.Array | None = None
        for dim in meta.dimensions:
            if len(chosen[dim.code]) == len(dim.values):
                continue
            keep = pc.is_in(cells[dim.code], value_set=pa.array(chosen[dim.code], pa.string()))
            mask = keep if mask is None else pc.and_(mask, keep)
        picked = cells if mask is None else cells.filter(mask)
        if not meta.dimensions or picked.num_rows == 0:
            return picked
        order = []
        for i, dim in enumerate(meta.dimensions):
            position = pc.index_in(picked[dim.code], value_set=pa.array(dim.codes(), pa.string()))
            picked = picked.append_column(f"__order{i}", position)
            order.append((f"__order{i}", "ascending"))
        picked = picked.sort_by(order)
        return picked.drop_columns([name for name, _ in order])
