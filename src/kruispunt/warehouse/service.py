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

from kruispunt.sources.extracts import read_arrow
from kruispunt.warehouse import disclosure, published, snapshot, statistics
from kruispunt.warehouse.extract import DATASETS
from kruispunt.warehouse.schemas import EXTRACTS, QUARTER_PATTERN, TableMeta

log = logging.getLogger("kruispunt.warehouse")

KSZ = "0244640631"
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
    """The quarters whose three extracts are present, oldest first."""
    out = []
    if folders.extracts.is_dir():
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


def replace_quarter(folders: Folders, quarter: str, fill: Callable[[Path], None]) -> None:
    """Replace the quarter's extracts as a whole: ``fill`` writes them into a staging folder, which is
    checked and then renamed into place (a failure keeps the quarter as it was)."""
    target = folders.quarter(quarter)
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
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def write_extracts(folders: Folders, quarter: str, tables: dict[str, pa.Table]) -> None:
    """The quarter's coded extracts, checked against their schema, replacing the quarter as a whole."""
    for name in EXTRACTS:
        check_coded(name, tables[name].schema.names)

    def fill(staging: Path) -> None:
        for name, schema in EXTRACTS.items():
            pq.write_table(tables[name].cast(schema), staging / f"{name}.parquet")

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
            tables[dataset] = read_arrow(response.content)
    return tables


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
    spill = folders.root / ".spill"
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(spill)})
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
    metas = []
    for meta, cells in computed:
        meta = _stamped(meta, updated)
        published.write_table(
            folders.tables, meta, disclosure.protect(meta, cells, min_frequency=min_frequency)
        )
        metas.append(meta)
    return metas


def _stamped(meta: TableMeta, updated: str) -> TableMeta:
    return replace(meta, updated=updated)


def load_quarter(
    folders: Folders,
    quarter: str,
    *,
    fetch: Callable[[str], dict[str, pa.Table]],
    min_frequency: int = 10,
) -> list[TableMeta]:
    """Fetch, keep and process one quarter (a quarter loaded again replaces the earlier load)."""
    tables = fetch(quarter)
    write_extracts(folders, quarter, tables)
    return refresh(folders, rebuild=[quarter], min_frequency=min_frequency)
