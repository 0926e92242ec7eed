"""The warehouse's quarterly load: coded extracts in, snapshot, the five applications' tables out.

``load_quarter`` asks the hub for the quarter's three extracts (``POST /hub/extracts``, deliberation 24/014;
the hub has them coded at the trusted third party), writes them under ``extracts/quarter=…``, and calls
``refresh``: the quarter's snapshot is (re)built, then every published table is recomputed from all loaded
quarters, put through disclosure control and published. A table is replaced whole or not at all.

Folder layout (``warehouse_dir``): ``extracts/quarter=Q/{persons,files,employers}.parquet`` (coded),
``snapshot/quarter=Q/part-0.parquet`` (person-quarter), ``tables/`` (published tables, :mod:`.published`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from kruispunt.network import KSZ
from kruispunt.sources.extracts import read_arrow
from kruispunt.warehouse import disclosure, published, snapshot, statistics
from kruispunt.warehouse.extract import DATASETS
from kruispunt.warehouse.schemas import EXTRACTS, QUARTER_PATTERN, TableMeta

log = logging.getLogger("kruispunt.warehouse")

"""The KSZ manages the warehouse: it is the requester of deliberation 24/014."""

LEGAL_CONTEXT = "KSZ:DWH"

MEMORY_LIMIT = "8GB"
"""DuckDB's working memory for a refresh; beyond it DuckDB spills to ``<warehouse>/.spill`` (its default,
80 % of the machine, would leave nothing to the other services)."""


class LoadError(RuntimeError):
    """A quarter could not be loaded (the hub refused, a source failed): nothing of it was kept."""


@dataclass(frozen=True)
class Folders:
    root: Path

    @property
    def extracts(self) -> Path:
        return self.root / "extracts"

    @property
    def snapshot(self) -> Path:
        return self.root / "snapshot"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    def quarter(self, quarter: str) -> Path:
        return self.extracts / f"quarter={quarter}"


def loaded_quarters(folders: Folders) -> list[str]:
    """The quarters whose three extracts are present, oldest first (a quarter a crash left in its ``.old``
    folder is put back first)."""
    out = []
    if folders.extracts.is_dir():
        for old in folders.extracts.glob("quarter=*.old"):
            _recover(old.with_name(old.name.removesuffix(".old")))
        for path in folders.extracts.iterdir():
            q = path.name.removeprefix("quarter=")
            if QUARTER_PATTERN.match(q) and all((path / f"{d}.parquet").is_file() for d in DATASETS):
                out.append(q)
    return sorted(out)


def check_coded(name: str, names: list[str]) -> None:
    """An extract may be kept only with its schema's columns, coded."""
    if "insz" in names or "household" in names:
        raise LoadError(f"{name} extract is not coded")
    expected = EXTRACTS[name].names
    if names != expected:
        raise LoadError(f"{name} extract has columns {names}, expected {expected}")


def _recover(target: Path) -> None:
    """Finish a replacement that stopped between its two renames: the quarter is then only in ``.old``."""
    old = target.with_name(target.name + ".old")
    if old.is_dir() and not target.exists():
        os.replace(old, target)


def replace_quarter(folders: Folders, quarter: str, fill: Callable[[Path], None]) -> None:
    """Replace the quarter's extracts as a whole: ``fill`` writes them into a staging folder, which is
    checked and then renamed into place (a failure keeps the quarter as it was; a replacement stopped
    between its renames is completed by the next one)."""
    target = folders.quarter(quarter)
    _recover(target)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        fill(staging)
        for name in EXTRACTS:
            check_coded(name, pq.read_schema(staging / f"{name}.parquet").names)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        _recover(target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_extracts(folders: Folders, quarter: str, tables: dict[str, pa.Table]) -> None:
    """The quarter's coded extracts, checked against their schema, replacing the quarter as a whole."""
    _recover(folders.quarter(quarter))
    for name in EXTRACTS:
        if name not in tables:
            raise LoadError(f"the {name} extract of {quarter} is missing")
        check_coded(name, tables[name].schema.names)
    try:
        cast = {name: tables[name].cast(schema) for name, schema in EXTRACTS.items()}
    except (pa.ArrowException, ValueError) as exc:
        # the type only: Arrow's message quotes the offending values
        raise LoadError(f"an extract of {quarter} does not fit its schema ({type(exc).__name__})") from None

    def fill(staging: Path) -> None:
        for name, table in cast.items():
            pq.write_table(table, staging / f"{name}.parquet")

    replace_quarter(folders, quarter, fill)


def fetch_extracts(hub_url: str, quarter: str, *, timeout_s: float = 900.0) -> dict[str, pa.Table]:
    """The quarter's three coded extracts, through the hub."""
    tables = {}
    with httpx.Client(timeout=httpx.Timeout(timeout_s)) as client:
        for dataset in DATASETS:
            body = {
                "cbe_number": KSZ,
                "sector": 25,
                "institution_type": 0,
                "legal_context": LEGAL_CONTEXT,
                "dataset": dataset,
                "quarter": quarter,
            }
            try:
                response = client.post(f"{hub_url.rstrip('/')}/hub/extracts", json=body)
            except httpx.HTTPError as exc:
                raise LoadError(f"hub unreachable: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise LoadError(f"hub refused the {dataset} extract of {quarter}: {response.text[:500]}")
            try:
                tables[dataset] = read_arrow(response.content)
            except (pa.ArrowException, ValueError) as exc:
                raise LoadError(
                    f"the hub's {dataset} extract of {quarter} is not an Arrow stream ({type(exc).__name__})"
                ) from None
    return tables


def _duckdb(folders: Folders, memory_limit: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        config={"memory_limit": memory_limit, "temp_directory": str(folders.root / ".spill")}
    )


def refresh(
    folders: Folders,
    *,
    rebuild: list[str] | None = None,
    min_frequency: int = 10,
    memory_limit: str = MEMORY_LIMIT,
) -> list[TableMeta]:
    """(Re)build the snapshot of the quarters in ``rebuild`` (default: every loaded quarter without one),
    then recompute, protect and publish every table over all loaded quarters."""
    quarters = loaded_quarters(folders)
    if rebuild is None:
        rebuild = [q for q in quarters if not (folders.snapshot / f"quarter={q}").is_dir()]
    con = _duckdb(folders, memory_limit)
    try:
        for q in rebuild:
            snapshot.build_snapshot(
                con, extracts_dir=folders.extracts, snapshot_dir=folders.snapshot, quarter=q
            )
        if not quarters:
            return []
        computed = statistics.compute_tables(con, snapshot_dir=folders.snapshot, quarters=quarters)
    finally:
        con.close()
    updated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    metas = [replace(meta, updated=updated) for meta, _ in computed]
    protected = protect_tables(
        [(meta, cells) for meta, (_, cells) in zip(metas, computed, strict=True)], min_frequency=min_frequency
    )
    for meta, cells in zip(metas, protected, strict=True):  # only once every table could be protected
        published.write_table(folders.tables, meta, cells)
    return metas


def protect_tables(computed: list[tuple[TableMeta, pa.Table]], *, min_frequency: int) -> list[pa.Table]:
    """Every table through disclosure control, the tables of :data:`statistics.LINKED` together (their cells
    determine each other); :class:`LoadError` if one cannot be protected (nothing is published then)."""
    index = {meta.id: i for i, (meta, _) in enumerate(computed)}
    out: list[pa.Table | None] = [None] * len(computed)
    try:
        for group in statistics.LINKED:
            members = [index[t] for t in group if t in index]
            together = disclosure.protect_together(
                [computed[i] for i in members], min_frequency=min_frequency
            )
            for i, cells in zip(members, together, strict=True):
                out[i] = cells
        for i, (meta, cells) in enumerate(computed):
            if out[i] is None:
                out[i] = disclosure.protect(meta, cells, min_frequency=min_frequency)
    except disclosure.UnprotectableTable as exc:
        raise LoadError(str(exc)) from None
    return [cells for cells in out if cells is not None]


def load_quarter(
    folders: Folders,
    quarter: str,
    *,
    fetch: Callable[[str], dict[str, pa.Table]],
    min_frequency: int = 10,
) -> list[TableMeta]:
    """Fetch, keep and process one quarter (a quarter loaded again replaces the earlier load).

    A failure keeps the quarter as it was: its extracts and its snapshot are put back (the published
    tables are only written once all of them are computed and protected)."""
    tables = fetch(quarter)
    target = folders.quarter(quarter)
    _recover(target)
    backup = target.with_name(target.name + ".backup")
    shutil.rmtree(backup, ignore_errors=True)
    if target.is_dir():
        shutil.copytree(target, backup, copy_function=_link_or_copy)
    try:
        write_extracts(folders, quarter, tables)  # a refusal here has changed nothing
        try:
            return refresh(folders, rebuild=[quarter], min_frequency=min_frequency)
        except BaseException:
            _put_back(folders, quarter, backup)
            raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link where the file system allows it: the extracts are replaced by renames, never rewritten
    in place, so a link keeps the earlier file as it was."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _put_back(folders: Folders, quarter: str, backup: Path) -> None:
    """After a failed load: the quarter's earlier extracts (or none) and the snapshot built from them."""
    target = folders.quarter(quarter)
    shutil.rmtree(target, ignore_errors=True)
    if not backup.is_dir():
        shutil.rmtree(folders.snapshot / f"quarter={quarter}", ignore_errors=True)
        return
    os.replace(backup, target)
    con = _duckdb(folders, MEMORY_LIMIT)
    try:
        snapshot.build_snapshot(
            con, extracts_dir=folders.extracts, snapshot_dir=folders.snapshot, quarter=quarter
        )
    except Exception:
        log.exception("the snapshot of %s could not be rebuilt from its earlier extracts", quarter)
    finally:
        con.close()
