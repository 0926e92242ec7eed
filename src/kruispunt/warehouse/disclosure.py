"""Statistical disclosure control for what the warehouse releases.

Four tools, each for one kind of release (``WAREHOUSE-NOTES.md`` §3):

* :func:`protect` — fixed published frequency tables (:func:`~kruispunt.warehouse.schemas.cells_schema`):
  threshold rule (primary suppression) plus secondary suppression, so that a withheld cell cannot be
  recomputed from the published cells and the table's additive margins.
* :func:`dominance_violations` / :func:`p_rule_violations` — magnitude tables (wages, amounts): a cell is
  sensitive when a few contributors make up nearly all of it.
* :func:`record_keys` / :func:`cell_key` / :func:`perturb` — the cell-key method for interactive, ad-hoc
  counts: the noise of a cell depends only on the set of its records, so overlapping queries give the same
  answer for the same cell and averaging repeated queries does not remove the noise.
* :func:`k_anonymity` / :func:`generalise` — coded microdata extracts: global recoding along
  generalisation hierarchies plus row suppression until every quasi-identifier combination is shared by at
  least *k* rows.

k-anonymity is implemented in-house: ``pycanon`` was considered but hard-pins numpy/typer/typing-extensions
versions that conflict with ours. The rules are small and auditable, which is what an output checker needs.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from kruispunt.warehouse.schemas import SUPPRESSED, TOTAL, TableMeta, cells_schema

__all__ = [
    "DEFAULT_PERTURBATION",
    "Generalised",
    "Hierarchy",
    "NotAnonymisable",
    "PerturbationTable",
    "age_hierarchy",
    "cell_key",
    "dominance_violations",
    "generalise",
    "k_anonymity",
    "keep_hierarchy",
    "municipality_hierarchy",
    "p_rule_violations",
    "perturb",
    "protect",
    "protect_together",
    "record_keys",
    "suppress_hierarchy",
]

# ------------------------------------------------------------------------------ frequency tables: protect


def _cube(
    meta: TableMeta, cells: pa.Table
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """The cells as dense arrays (values, suppressed) in the meta's code order, and each row's flat index.

    Refuses an incomplete cube or unknown codes: the additivity relations that secondary suppression
    reasons about only hold on a complete cube.
    """
    shape = tuple(len(d.values) for d in meta.dimensions)
    size = int(np.prod(shape, dtype=np.int64))
    if cells.num_rows != size:
        raise ValueError(f"table {meta.id!r}: {cells.num_rows} rows, a complete cube has {size}")
    flat = np.zeros(cells.num_rows, dtype=np.int64)
    for d, n in zip(meta.dimensions, shape, strict=True):
        idx = pc.index_in(cells.column(d.code), value_set=pa.array(d.codes(), pa.string()))
        if idx.null_count:
            raise ValueError(f"table {meta.id!r}: column {d.code!r} holds codes not in its dimension")
        flat = flat * n + idx.to_numpy(zero_copy_only=False).astype(np.int64)
    if np.unique(flat).size != size:
        raise ValueError(f"table {meta.id!r}: some code combination occurs more than once")
    status = cells.column("status").to_numpy(zero_copy_only=False)
    value_col = cells.column("value")
    pre = (status == SUPPRESSED) | value_col.is_null().to_numpy(zero_copy_only=False)
    raw = value_col.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    values = np.zeros(size, dtype=np.int64)
    suppressed = np.zeros(size, dtype=bool)
    values[flat] = raw
    suppressed[flat] = pre
    return values.reshape(shape), suppressed.reshape(shape), flat


_CORNER_BUDGET = 8192
"""Candidate hypercubes × corners evaluated per protected cell: bounds the work in more dimensions."""

_LARGE_CUBE = 500_000
_LARGE_CUBE_BUDGET = 1024
"""Above ``_LARGE_CUBE`` cells a narrower search: measured 2.5-4x faster for ~10 % more suppression."""

_BATCH_CELLS = 250_000
"""Corner lookups per vectorised batch: small enough to stay in cache and to let later batches reuse the
cells earlier ones withheld (measured: larger batches are slower and suppress more)."""

_WIDE_CELLS = 4_000_000
"""Corner lookups for the wide search of one target that the cheap search could not protect."""


def _corner_cost(values: npt.NDArray[np.int64], suppressed: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """What suppressing a cell costs: 0 if already withheld, its value if positive, ∞ for a published zero.

    A published zero may not join a hypercube: the attacker knows cells are non-negative, so a zero corner
    would pin the others' direction of change (and withholding a zero hides nothing when zeros are safe).
    """
    cost = np.where(values > 0, values.astype(np.float32), np.float32(np.inf))
    cost[suppressed] = 0.0
    return cost


def _hypercubes(
    values: npt.NDArray[np.int64],
    suppressed: npt.NDArray[np.bool_],
    targets: npt.NDArray[np.int64],
    total_index: Sequence[int | None],
) -> int:
    """Hypercube secondary suppression in place; returns how many target cells found no safe hypercube.

    For each target cell (flat index) not yet a corner of a chosen hypercube, pick for every dimension with
    a total one other code of that dimension — the 2^m corners of the box spanned by the target and these
    codes are withheld together. Such a box carries a non-zero change (+1/-1 on the corners, the same sign
    on both ends of an edge that ends on a total) that keeps every additivity relation, so any corner can
    move by ε in one direction while every published cell stays the same: no corner can be recomputed, as
    long as all corners are positive. The box chosen is the cheapest among the ``K`` cheapest codes per
    dimension (sum of the values newly withheld, already withheld corners are free). Targets are handled in
    vectorised batches; within a batch the choices ignore each other (more suppression, never less safety).
    """
    shape = values.shape
    active = [a for a in range(values.ndim) if total_index[a] is not None and shape[a] >= 2]
    if not active or targets.size == 0:
        return 0
    v = values.reshape(-1)
    s = suppressed.reshape(-1)  # a view: writes land in ``suppressed``
    strides = np.array([int(np.prod(shape[a + 1 :], dtype=np.int64)) for a in range(values.ndim)])
    m = len(active)
    bits = (np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1  # (corners, m)
    covered = np.zeros(v.size, dtype=bool)
    unprotected = 0

    cost_of = _corner_cost(v, s)  # kept up to date: a cell withheld costs nothing to reuse

    def search(chunk: npt.NDArray[np.int64], widths: list[int]) -> npt.NDArray[np.bool_]:
        coords = np.stack(np.unravel_index(chunk, shape), axis=1)
        rows = np.arange(chunk.size)
        options: list[npt.NDArray[np.int64]] = []
        usable: list[npt.NDArray[np.bool_]] = []  # false: the target's own code or a published zero
        for a, width in zip(active, widths, strict=True):
            line = chunk[:, None] + (np.arange(shape[a])[None, :] - coords[:, a : a + 1]) * strides[a]
            cost = cost_of[line]
            cost[rows, coords[:, a]] = np.inf  # the target's own code is not a partner
            picks: list[npt.NDArray[np.int64]] = []  # the cheapest codes first; first code on ties
            finite: list[npt.NDArray[np.bool_]] = []
            for _ in range(width):
                pick = np.argmin(cost, axis=1)
                picks.append(pick)
                finite.append(np.isfinite(cost[rows, pick]))
                cost[rows, pick] = np.inf
            options.append(np.stack(picks, axis=1))
            usable.append(np.stack(finite, axis=1))
        grids = [g.reshape(-1) for g in np.meshgrid(*[np.arange(o.shape[1]) for o in options], indexing="ij")]
        corners = np.broadcast_to(chunk[:, None, None], (chunk.size, grids[0].size, 2**m)).copy()
        for i, (o, g, a) in enumerate(zip(options, grids, active, strict=True)):
            step = (o[:, g] - coords[:, [a]]) * strides[a]  # (targets, boxes)
            corners += step[:, :, None] * bits[None, None, :, i]
        total = cost_of[corners].sum(axis=2)
        for u, g in zip(usable, grids, strict=True):
            total[~u[:, g]] = np.inf  # a degenerate box (partner = target) protects nothing
        best = np.argmin(total, axis=1)
        ok = np.isfinite(total[rows, best])
        chosen = corners[rows[ok], best[ok]].reshape(-1)
        s[chosen] = True
        cost_of[chosen] = 0.0
        covered[chosen] = True
        return np.asarray(ok, dtype=bool)

    def search_batched(cells: npt.NDArray[np.int64], widths: list[int]) -> list[int]:
        """``search`` in batches, each skipping what earlier ones covered; the cells it could not protect."""
        batch = max(1, _BATCH_CELLS // (int(np.prod(widths)) * 2**m))
        failed: list[int] = []
        for start in range(0, cells.size, batch):
            chunk = cells[start : start + batch]
            chunk = chunk[~covered[chunk]]
            if chunk.size:
                ok = search(chunk, widths)
                failed.extend(int(c) for c in chunk[~ok])
        return failed

    budget = _CORNER_BUDGET if v.size <= _LARGE_CUBE else _LARGE_CUBE_BUDGET
    width = 3
    while width > 1 and width**m * 2**m > budget:
        width -= 1
    widths = [min(width, shape[a] - 1) for a in active]
    failed = search_batched(targets, widths)
    # targets whose K cheapest partners all led to a published zero: a wider search, still vectorised,
    # then one target at a time over (nearly) every code for what remains
    if failed:
        wider = widths
        while int(np.prod(wider)) * 2**m < budget * 8 and any(
            w < shape[a] - 1 for w, a in zip(wider, active, strict=True)
        ):
            wider = [min(w + 1, shape[a] - 1) for w, a in zip(wider, active, strict=True)]
        failed = search_batched(np.array(failed, dtype=np.int64), wider)
    for target in failed:
        if covered[target]:
            continue
        wide = [shape[a] - 1 for a in active]
        while int(np.prod(wide)) * 2**m > _WIDE_CELLS and max(wide) > 1:
            wide[int(np.argmax(wide))] //= 2
        if not search(np.array([target], dtype=np.int64), wide)[0]:
            unprotected += 1
    return unprotected


class UnprotectableTable(RuntimeError):
    """Secondary suppression could not protect every withheld cell: the table must not be published."""


def protect(
    meta: TableMeta, cells: pa.Table, *, min_frequency: int = 10, zeros_safe: bool = True
) -> pa.Table:
    """The table as it may be published: small counts withheld, and enough other cells with them.

    Primary suppression: ``0 < value < min_frequency`` (and zeros too when ``zeros_safe`` is false); cells
    already marked :data:`SUPPRESSED` stay so. Secondary suppression: the hypercube method
    (:func:`_hypercubes`, after τ-ARGUS's GHMITER): every primary cell becomes a corner of a box of
    withheld cells, so no line of the cube ever has a single suppressed cell and no suppressed cell can be
    recomputed from the margins, across dimensions included.

    Why boxes and not just the line rule ("no line with exactly one withheld cell, else withhold the
    smallest other cell of the line"): in two or more dimensions that rule is necessary but not sufficient —
    two withheld rectangles joined by one cell satisfy it and the joining cell is still solvable (see the
    tests). A box always carries a change that keeps every margin, so each of its corners stays unknown.

    Known limits: this is a hypercube-style heuristic. It over-suppresses compared with an optimal method
    (τ-ARGUS OPT/MOD, ``pytauargus``); its protection interval can be narrow (the attacker cannot pin a
    cell, but no minimum width is enforced); singleton and coalition protection (a respondent who knows
    their own count subtracting it from a box) is not guaranteed in multi-dimensional tables; cubes above
    500 000 cells get a narrower (faster, more suppressing) search; with ``zeros_safe=False`` withheld
    zeros may still be pinned by non-negativity (a line whose total is 0). The test suite's
    linear-programming attack — the minimum and maximum of each withheld cell over all non-negative tables
    consistent with what is published — is the check.

    Vectorised numpy on the dense cube (totals included): batches of cells, never a Python step per cell
    except for rare fall-backs.
    """
    schema = cells_schema(meta)
    values, suppressed, flat = _cube(meta, cells)
    published = ~suppressed
    primary = published & (values > 0) & (values < min_frequency)
    if not zeros_safe:
        primary |= published & (values == 0)
    targets = np.flatnonzero(primary.reshape(-1) | suppressed.reshape(-1)).astype(np.int64)
    suppressed |= primary
    totals = [d.codes().index(TOTAL) if TOTAL in d.codes() else None for d in meta.dimensions]
    unprotected = _hypercubes(values, suppressed, targets, totals)
    if unprotected:
        raise UnprotectableTable(
            f"table {meta.id}: {unprotected} withheld cells found no hypercube free of published zeros; "
            "the table is not published (they could be recovered)"
        )

    row_suppressed = suppressed.reshape(-1)[flat]
    row_values = values.reshape(-1)[flat]
    value = pa.array(row_values, pa.int64(), mask=row_suppressed)
    old_status = cells.column("status").combine_chunks()
    status = pc.if_else(pa.array(row_suppressed), pa.scalar(SUPPRESSED, pa.string()), old_status)
    columns = [cells.column(d.code).cast(pa.string()) for d in meta.dimensions]
    return pa.Table.from_arrays([*columns, value, status], schema=schema)


def protect_together(
    tables: Sequence[tuple[TableMeta, pa.Table]], *, min_frequency: int = 10, zeros_safe: bool = True
) -> list[pa.Table]:
    """:func:`protect` for tables over the same cube whose cells determine each other (one cell of one
    table is a function of the same cell of another, e.g. persons = 2 × households of two persons): the
    same cells are withheld in all of them, and each table is protected on its own with those cells.

    Why: protected one by one, a cell withheld in one table would be read off the other, where it may be
    published. Each round protects every table with the union of what the others withhold, until the
    patterns agree (suppression only grows, so this ends).
    """
    if not tables:
        return []
    first_meta, first_cells = tables[0]
    keys = [d.code for d in first_meta.dimensions]
    for meta, cells in tables[1:]:
        if [(d.code, d.codes()) for d in meta.dimensions] != [
            (d.code, d.codes()) for d in first_meta.dimensions
        ]:
            raise ValueError(f"tables {first_meta.id!r} and {meta.id!r} are not over the same cube")
        if not cells.select(keys).equals(first_cells.select(keys)):
            raise ValueError(f"tables {first_meta.id!r} and {meta.id!r} list their cells in another order")
    withheld = np.zeros(first_cells.num_rows, dtype=bool)
    while True:
        marked = [
            cells.set_column(
                cells.schema.get_field_index("status"),
                "status",
                pc.if_else(pa.array(withheld), pa.scalar(SUPPRESSED, pa.string()), cells.column("status")),
            )
            for _, cells in tables
        ]
        protected = [
            protect(meta, cells, min_frequency=min_frequency, zeros_safe=zeros_safe)
            for (meta, _), cells in zip(tables, marked, strict=True)
        ]
        union = withheld.copy()
        for cells in protected:
            union |= pc.equal(cells.column("status"), SUPPRESSED).to_numpy(zero_copy_only=False)
        if (union == withheld).all():
            return protected
        withheld = union


# ------------------------------------------------------------------------------- magnitude tables: rules


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _contribution_stats(
    contributions: pa.Table, cell_columns: list[str], value_column: str, n: int
) -> duckdb.DuckDBPyRelation:
    """Per cell: total, number of contributors, sum of the n largest, largest and second largest."""
    con = duckdb.connect()
    con.register("contributions", contributions)
    cols = ", ".join(_quoted(c) for c in cell_columns)
    v = f"CAST({_quoted(value_column)} AS DOUBLE)"
    partition = f"PARTITION BY {cols} " if cols else ""
    ordered = f"ROW_NUMBER() OVER ({partition}ORDER BY {v} DESC)"
    sql = f"""
        WITH ranked AS (SELECT {cols + ", " if cols else ""}{v} AS v, {ordered} AS rank FROM contributions)
        SELECT {cols + ", " if cols else ""}
               SUM(v) AS total,
               COUNT(*) AS contributors,
               SUM(CASE WHEN rank <= {int(n)} THEN v ELSE 0 END) AS top_n,
               MAX(CASE WHEN rank = 1 THEN v END) AS largest,
               COALESCE(MAX(CASE WHEN rank = 2 THEN v END), 0) AS second
        FROM ranked {"GROUP BY " + cols if cols else ""}
        ORDER BY {cols if cols else "total"}
    """  # noqa: S608 - column names come from the caller's schema, not from outside input
    return con.sql(sql)


def _check_columns(contributions: pa.Table, cell_columns: list[str], value_column: str) -> None:
    missing = [c for c in [*cell_columns, value_column] if c not in contributions.column_names]
    if missing:
        raise ValueError(f"contributions lack the columns {missing}")


def dominance_violations(
    contributions: pa.Table, *, cell_columns: list[str], value_column: str, n: int = 2, k: float = 0.9
) -> pa.Table:
    """The cells of a magnitude table where the ``n`` largest contributions exceed ``k`` of the total.

    ``(n, k)`` dominance (ACRO's default n=2, k=90 %): publishing such a cell lets a large contributor
    estimate the others closely. ``contributions`` has one row per contributor and cell (non-negative
    values). Returns the violating cells: the cell columns, ``total``, ``contributors``, ``top_n``.
    """
    _check_columns(contributions, cell_columns, value_column)
    if n < 1 or not 0 < k <= 1:
        raise ValueError("dominance rule needs n >= 1 and 0 < k <= 1")
    stats = _contribution_stats(contributions, cell_columns, value_column, n)
    cols = [_quoted(c) for c in cell_columns]
    return (
        stats.filter(f"top_n > {float(k)!r} * total")
        .select(*cols, "total", "contributors", "top_n")
        .to_arrow_table()
    )


def p_rule_violations(
    contributions: pa.Table, *, cell_columns: list[str], value_column: str, p: float = 0.10
) -> pa.Table:
    """The cells where the second largest contributor could estimate the largest to within ``p``.

    p %-rule (ACRO default p = 10 %): a cell is sensitive when ``total - x1 - x2 < p * x1``, i.e. what the
    other contributors add is less than p of the largest. Returns the cell columns, ``total``,
    ``contributors``, ``largest``, ``second``.
    """
    _check_columns(contributions, cell_columns, value_column)
    if not 0 < p < 1:
        raise ValueError("p-rule needs 0 < p < 1")
    stats = _contribution_stats(contributions, cell_columns, value_column, 2)
    cols = [_quoted(c) for c in cell_columns]
    return (
        stats.filter(f"total - largest - second < {float(p)!r} * largest")
        .select(*cols, "total", "contributors", "largest", "second")
        .to_arrow_table()
    )


# ----------------------------------------------------------------------------------- cell-key method


def record_keys(
    person_ids: pa.Array | pa.ChunkedArray | Sequence[str], *, secret: bytes
) -> npt.NDArray[np.uint32]:
    """A stable uniform record key per coded person: the first 32 bits of HMAC-SHA-256(secret, id).

    Keyed so that a user who knows the coded ids cannot compute the keys (and so the noise); stable so
    that the same person contributes the same key to every query.
    """
    if not secret:
        raise ValueError("record keys need a non-empty secret")
    ids = person_ids.to_pylist() if isinstance(person_ids, pa.Array | pa.ChunkedArray) else list(person_ids)
    out = np.empty(len(ids), dtype=np.uint32)
    for i, pid in enumerate(ids):
        if pid is None:
            raise ValueError("record keys need non-null person ids")
        digest = hmac.new(secret, str(pid).encode(), hashlib.sha256).digest()
        out[i] = int.from_bytes(digest[:4], "big")
    return out


def cell_key(keys: npt.ArrayLike) -> int:
    """The cell key: the sum of the cell's record keys modulo 2**32 (independent of the records' order)."""
    arr = np.asarray(keys, dtype=np.uint64)
    return int(arr.sum(dtype=np.uint64) % np.uint64(2**32)) if arr.size else 0


@dataclass(frozen=True)
class PerturbationTable:
    """A p-table: counts below ``threshold`` are published as 0; larger ones get symmetric noise.

    ``noise`` lists (offset, probability) pairs, symmetric around 0 so the noise has mean zero. Near the
    threshold the noise is cut to ``count - threshold`` either side (renormalised, still symmetric) so a
    perturbed count never falls below the threshold and the mean stays the true count.
    """

    threshold: int = 10
    noise: tuple[tuple[int, float], ...] = ((-2, 0.05), (-1, 0.20), (0, 0.50), (1, 0.20), (2, 0.05))

    def __post_init__(self) -> None:
        probs = dict(self.noise)
        if len(probs) != len(self.noise) or any(p < 0 for p in probs.values()):
            raise ValueError("p-table noise: distinct offsets, non-negative probabilities")
        if abs(sum(probs.values()) - 1) > 1e-9:
            raise ValueError("p-table noise: the probabilities must add up to 1")
        if any(abs(probs.get(-o, -1.0) - p) > 1e-12 for o, p in probs.items()):
            raise ValueError("p-table noise must be symmetric (mean zero)")
        if self.threshold < 1:
            raise ValueError("p-table threshold must be at least 1")

    def offset(self, count: int, key: int) -> int:
        """The noise for ``count`` at cell key ``key``: the key's position in the cumulative distribution."""
        bound = count - self.threshold
        row = sorted((o, p) for o, p in self.noise if abs(o) <= bound)
        total = sum(p for _, p in row)
        if total <= 0:
            return 0
        u = (key % 2**32) / 2**32 * total
        acc = 0.0
        for o, p in row:
            acc += p
            if u < acc:
                return o
        return row[-1][0]


DEFAULT_PERTURBATION = PerturbationTable()
"""Threshold 10 (as the published tables), noise in [-2, +2] with variance 0.8."""


def perturb(count: int, cell_key: int, *, table: PerturbationTable = DEFAULT_PERTURBATION) -> int:
    """The published count for a cell with ``count`` records and cell key ``cell_key``.

    0 stays 0; ``0 < count < threshold`` becomes 0 (small counts are not told apart from empty cells);
    otherwise ``count`` plus the p-table's noise at the cell key — the same cell always gets the same noise.
    """
    if count < 0:
        raise ValueError("counts are non-negative")
    if count < table.threshold:
        return 0
    return count + table.offset(count, cell_key)


# ---------------------------------------------------------------------------------- microdata: k-anonymity

Hierarchy = list[Callable[[pa.Array], pa.Array]]
"""A generalisation hierarchy: element i turns the original column into level i (strings)."""


class NotAnonymisable(ValueError):
    """Even the most general levels do not reach k within the allowed suppression."""


@dataclass(frozen=True)
class Generalised:
    """A released extract: the table, the level per quasi-identifier, rows dropped, and the k achieved."""

    table: pa.Table
    levels: dict[str, int]
    suppressed_rows: int
    k: int


def _class_sizes(table: pa.Table, quasi_identifiers: list[str]) -> pa.Table:
    return table.group_by(quasi_identifiers, use_threads=False).aggregate([([], "count_all")])


def k_anonymity(table: pa.Table, quasi_identifiers: list[str]) -> int:
    """The smallest number of rows that share one combination of the quasi-identifiers (0 when empty)."""
    if table.num_rows == 0:
        return 0
    if not quasi_identifiers:
        return int(table.num_rows)
    sizes = _class_sizes(table.select(quasi_identifiers), quasi_identifiers)
    return int(pc.min(sizes.column("count_all")).as_py())


def _as_string(arr: pa.Array) -> pa.Array:
    return pc.cast(arr, pa.string())


def _star(arr: pa.Array) -> pa.Array:
    return pa.repeat(pa.scalar("*", pa.string()), len(arr))


def _band(width: int) -> Callable[[pa.Array], pa.Array]:
    def level(arr: pa.Array) -> pa.Array:
        lo = pc.multiply(pc.divide(pc.cast(arr, pa.int64()), width), width)
        hi = pc.add(lo, width - 1)
        return pc.binary_join_element_wise(_as_string(lo), _as_string(hi), "-")

    return level


def age_hierarchy() -> Hierarchy:
    """Age in completed years → exact, 5-year, 10-year, 20-year bands ("20-24"), "*". NULL stays NULL."""
    return [_as_string, _band(5), _band(10), _band(20), _star]


def _mapped(mapping: Mapping[int, object], what: str) -> Callable[[pa.Array], pa.Array]:
    def level(arr: pa.Array) -> pa.Array:
        keys = pc.unique(arr).drop_null().to_pylist()
        unknown = [key for key in keys if key not in mapping]
        if unknown:
            raise ValueError(f"no {what} for {sorted(unknown)[:5]}")
        value_set = pa.array(keys, arr.type)
        targets = pa.array([str(mapping[key]) for key in keys], pa.string())
        return pc.take(targets, pc.index_in(arr, value_set=value_set))

    return level


def municipality_hierarchy(to_arrondissement: dict[int, int], to_region: dict[int, str]) -> Hierarchy:
    """REFNIS municipality → arrondissement → region → "*" (``to_region`` is keyed by arrondissement)."""
    to_arr = _mapped(to_arrondissement, "arrondissement")
    region_of_municipality = {
        nis: to_region[arr] for nis, arr in to_arrondissement.items() if arr in to_region
    }
    return [_as_string, to_arr, _mapped(region_of_municipality, "region"), _star]


def keep_hierarchy() -> Hierarchy:
    """The value itself (as a string), never generalised: for a column that must stay exact."""
    return [_as_string]


def suppress_hierarchy() -> Hierarchy:
    """The value itself (as a string) or "*": for a quasi-identifier that has no useful middle level."""
    return [_as_string, _star]


def _level_column(
    cache: dict[tuple[str, int], pa.Array], table: pa.Table, qi: str, hierarchy: Hierarchy, level: int
) -> pa.Array:
    key = (qi, level)
    if key not in cache:
        result = hierarchy[level](table.column(qi).combine_chunks())
        if isinstance(result, pa.ChunkedArray):
            result = result.combine_chunks()
        cache[key] = result
    return cache[key]


def generalise(
    table: pa.Table,
    *,
    quasi_identifiers: list[str],
    hierarchies: dict[str, list[Callable[[pa.Array], pa.Array]]],
    k: int,
    max_suppressed_fraction: float = 0.01,
) -> Generalised:
    """The least generalised release that is k-anonymous after dropping at most a fraction of the rows.

    Full-domain global recoding: every level vector (one level per quasi-identifier, its hierarchy's
    index) is visited breadth-first by total level — the information loss — and within one total the vector
    that drops the fewest rows wins (then the one generalising high-cardinality identifiers first, then
    lexicographic, so the answer is deterministic). Rows in classes smaller than ``k`` are dropped when
    they are at most ``max_suppressed_fraction`` of the table. Every quasi-identifier needs a hierarchy
    (``suppress_hierarchy()`` at least); level 0 is applied too, so released identifiers are strings.
    Each level must coarsen the one before (never split a class): the early refusal relies on it.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    missing = [q for q in quasi_identifiers if q not in hierarchies or not hierarchies[q]]
    if missing:
        raise ValueError(f"no generalisation hierarchy for {missing}")
    absent = [q for q in quasi_identifiers if q not in table.column_names]
    if absent:
        raise ValueError(f"quasi-identifiers {absent} are not columns of the table")
    n_rows = table.num_rows
    allowed = int(np.floor(max_suppressed_fraction * n_rows + 1e-9))
    cache: dict[tuple[str, int], pa.Array] = {}
    distinct = {q: len(pc.unique(table.column(q))) for q in quasi_identifiers}
    ranges = [range(len(hierarchies[q])) for q in quasi_identifiers]

    def evaluate(levels: tuple[int, ...]) -> tuple[int, pa.Array | None]:
        """Rows to drop for this level vector, and the keep-mask (None when nothing is dropped)."""
        columns = [
            _level_column(cache, table, q, hierarchies[q], lv)
            for q, lv in zip(quasi_identifiers, levels, strict=True)
        ]
        names = [f"q{i}" for i in range(len(columns))]
        view = pa.Table.from_arrays([*columns, pa.array(np.arange(n_rows))], names=[*names, "row"])
        if not names:
            return (0 if n_rows >= k or n_rows == 0 else n_rows), None
        sizes = view.group_by(names, use_threads=False).aggregate([([], "count_all")])
        small = sizes.filter(pc.less(sizes.column("count_all"), k))
        dropped = int(pc.sum(small.column("count_all")).as_py() or 0)
        if dropped == 0:
            return 0, None
        joined = view.join(small.select(names), keys=names, join_type="left semi", use_threads=False)
        mask = pc.invert(pc.is_in(pa.array(np.arange(n_rows)), value_set=joined.column("row")))
        return dropped, mask

    order = sorted(
        itertools.product(*ranges),
        key=lambda lv: (sum(lv), -sum(lv[i] * distinct[q] for i, q in enumerate(quasi_identifiers)), lv),
    )
    best: tuple[int, tuple[int, ...], pa.Array | None] | None = None
    best_total: int | None = None
    # coarser levels never split a class, so when the top levels fail everything fails: say so at once
    if evaluate(order[-1])[0] > allowed:
        order = []
    for levels in order:
        if best_total is not None and sum(levels) > best_total:
            break
        dropped, mask = evaluate(levels)
        if dropped <= allowed and (best is None or dropped < best[0]):
            best, best_total = (dropped, levels, mask), sum(levels)
            if dropped == 0:
                break  # nothing at this information loss can do better
    if best is None:
        top = {q: len(hierarchies[q]) - 1 for q in quasi_identifiers}
        raise NotAnonymisable(
            f"no generalisation of {quasi_identifiers} (up to levels {top}) reaches k={k} while dropping at"
            f" most {max_suppressed_fraction:.2%} ({allowed} of {n_rows}) rows"
        )
    dropped, levels, mask = best
    released = table
    for q, lv in zip(quasi_identifiers, levels, strict=True):
        i = released.column_names.index(q)
        released = released.set_column(i, q, _level_column(cache, table, q, hierarchies[q], lv))
    if mask is not None:
        released = released.filter(mask)
    return Generalised(
        table=released,
        levels=dict(zip(quasi_identifiers, levels, strict=True)),
        suppressed_rows=dropped,
        k=k_anonymity(released, quasi_identifiers),
    )
