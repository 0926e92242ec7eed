"""Disclosure control: suppression checked by an attacker with a linear-programming solver, cell keys,
dominance rules and k-anonymity."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from kruispunt.warehouse.disclosure import (
    DEFAULT_PERTURBATION,
    NotAnonymisable,
    PerturbationTable,
    age_hierarchy,
    cell_key,
    dominance_violations,
    generalise,
    k_anonymity,
    municipality_hierarchy,
    p_rule_violations,
    perturb,
    protect,
    protect_together,
    record_keys,
    suppress_hierarchy,
)
from kruispunt.warehouse.schemas import SUPPRESSED, TOTAL, Dimension, TableMeta, Value, cells_schema

# ------------------------------------------------------------------------------------------- cube helpers


def build_cube(base: npt.NDArray[np.int64], *, total_first: bool = True) -> tuple[TableMeta, pa.Table]:
    """A complete additive cube with margins from the inner counts ``base`` (one axis per dimension)."""
    dims = []
    full = np.asarray(base, dtype=np.int64)
    for axis, n in enumerate(base.shape):
        inner = [Value(f"c{j}", f"code {j}") for j in range(n)]
        total = Value(TOTAL, "total")
        values = (total, *inner) if total_first else (*inner, total)
        dims.append(Dimension(code=f"d{axis}", label=f"dimension {axis}", values=tuple(values)))
        margin = full.sum(axis=axis, keepdims=True)
        full = np.concatenate([margin, full] if total_first else [full, margin], axis=axis)
    meta = TableMeta(id="t", application="global", title="test", dimensions=tuple(dims))
    grids = np.meshgrid(*[np.arange(len(d.values)) for d in dims], indexing="ij")
    columns: list[pa.Array] = []
    for d, g in zip(dims, grids, strict=True):
        codes = np.array(d.codes(), dtype=object)
        columns.append(pa.array(codes[g.reshape(-1)], pa.string()))
    columns.append(pa.array(full.reshape(-1), pa.int64()))
    columns.append(pa.array([""] * full.size, pa.string()))
    return meta, pa.Table.from_arrays(columns, schema=cells_schema(meta))


def to_dense(meta: TableMeta, cells: pa.Table) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The published cells as a dense array (NaN where suppressed) and the suppression mask."""
    shape = tuple(len(d.values) for d in meta.dimensions)
    flat = np.zeros(cells.num_rows, dtype=np.int64)
    for d, n in zip(meta.dimensions, shape, strict=True):
        idx = pc.index_in(cells.column(d.code), value_set=pa.array(d.codes())).to_numpy()
        flat = flat * n + idx
    values = np.full(int(np.prod(shape)), np.nan)
    supp = np.zeros(int(np.prod(shape)), dtype=bool)
    v = cells.column("value").to_numpy(zero_copy_only=False)
    s = cells.column("status").to_numpy(zero_copy_only=False) == SUPPRESSED
    values[flat] = np.where(s, np.nan, v.astype(float))
    supp[flat] = s
    return values.reshape(shape), supp.reshape(shape)


def attack(meta: TableMeta, cells: pa.Table) -> dict[tuple[int, ...], tuple[float, float]]:
    """For each suppressed cell, its minimum and maximum over all non-negative real tables that agree
    with the published cells and every additivity relation (HiGHS)."""
    values, supp = to_dense(meta, cells)
    cells_idx = [tuple(int(i) for i in ix) for ix in np.argwhere(supp)]
    var = {c: i for i, c in enumerate(cells_idx)}
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    rhs: list[float] = []
    eq = 0
    for axis, d in enumerate(meta.dimensions):
        t = d.codes().index(TOTAL)
        other = [range(n) for i, n in enumerate(values.shape) if i != axis]
        for fixed in np.ndindex(*[len(r) for r in other]):
            line = []
            for j in range(values.shape[axis]):
                idx = (*fixed[:axis], j, *fixed[axis:])
                line.append((idx, -1.0 if j == t else 1.0))
            if not any(supp[idx] for idx, _ in line):
                continue
            known = 0.0
            for idx, coef in line:
                if supp[idx]:
                    rows.append(eq)
                    cols.append(var[idx])
                    data.append(coef)
                else:
                    known += coef * values[idx]
            rhs.append(-known)
            eq += 1
    result: dict[tuple[int, ...], tuple[float, float]] = {}
    if not cells_idx:
        return result
    a_eq = coo_matrix((data, (rows, cols)), shape=(eq, len(cells_idx))).tocsr()
    for c, i in var.items():
        objective = np.zeros(len(cells_idx))
        objective[i] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=rhs, bounds=(0, None), method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=rhs, bounds=(0, None), method="highs")
        assert low.status == 0, low.message
        hi = np.inf if high.status == 3 else -high.fun
        result[c] = (float(low.fun), float(hi))
    return result


def withhold(cells: pa.Table, mask: npt.NDArray[np.bool_]) -> pa.Table:
    """The cells with the rows of ``mask`` withheld, as an attacker would receive them."""
    m = pa.array(mask)
    value = pc.if_else(m, pa.scalar(None, pa.int64()), cells.column("value"))
    status = pc.if_else(m, pa.scalar(SUPPRESSED), cells.column("status"))
    return cells.set_column(cells.schema.get_field_index("value"), "value", value).set_column(
        cells.schema.get_field_index("status"), "status", status
    )


def assert_safe(meta: TableMeta, protected: pa.Table) -> None:
    ranges = attack(meta, protected)
    assert ranges, "the fixture should have suppressed cells"
    exposed = {c: r for c, r in ranges.items() if r[1] - r[0] <= 1e-6}
    assert not exposed, f"recoverable suppressed cells: {exposed}"


def true_values(meta: TableMeta, cells: pa.Table) -> npt.NDArray[np.float64]:
    return to_dense(meta, cells)[0]


# ---------------------------------------------------------------------------------------- protect: attack


def test_attack_recovers_primary_only_suppression() -> None:
    """The attack is real: with the small cell withheld alone, the margins give it back exactly."""
    base = np.array([[40, 3, 25], [31, 52, 18], [22, 19, 60]])
    meta, cells = build_cube(base)
    value = cells.column("value").to_numpy()
    primary_only = withhold(cells, (value > 0) & (value < 10))
    ranges = attack(meta, primary_only)
    assert len(ranges) == 1
    (low, high) = next(iter(ranges.values()))
    assert low == pytest.approx(3)
    assert high == pytest.approx(3)


def test_2d_table_is_safe() -> None:
    base = np.array([[40, 3, 25, 11], [31, 52, 18, 2], [22, 19, 60, 14], [15, 12, 8, 30]])
    meta, cells = build_cube(base)
    protected = protect(meta, cells)
    assert_safe(meta, protected)


def test_3d_table_with_margins_is_safe() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 30, size=(4, 3, 3))
    base[0, 0, 0] = 4
    meta, cells = build_cube(base, total_first=False)
    protected = protect(meta, cells)
    assert_safe(meta, protected)


@pytest.mark.parametrize("seed", range(24))
def test_random_tables_are_safe(seed: int) -> None:
    """Random 1- to 4-dimensional tables, margins first or last, many small cells and zeros."""
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(1, 5))
    shape = tuple(int(n) for n in rng.integers(1, 6 if ndim < 4 else 4, size=ndim))
    base = rng.choice([0, 0, 1, 2, 5, 8, 12, 20, 35, 60, 200], size=shape)
    base.flat[0] = 3  # at least one small cell
    meta, cells = build_cube(base, total_first=bool(seed % 2))
    assert_safe(meta, protect(meta, cells))


def test_4d_table_is_safe() -> None:
    rng = np.random.default_rng(99)
    base = rng.negative_binomial(1, 0.1, size=(4, 3, 2, 3))
    meta, cells = build_cube(base)
    assert_safe(meta, protect(meta, cells))


def test_line_rule_alone_is_not_enough() -> None:
    """Why hypercubes, not just "no line with a single withheld cell": two withheld 2×2 rectangles joined
    by one bridge cell satisfy that rule, yet the attack recomputes the bridge exactly."""
    base = np.array([[20, 30, 12, 40], [25, 35, 41, 33], [18, 27, 45, 50], [15, 16, 17, 19]])
    meta, cells = build_cube(base)
    inner = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2)}
    mask = np.zeros((5, 5), dtype=bool)
    for r, c in inner:
        mask[r + 1, c + 1] = True  # the total comes first in the dense cube
    assert all(((mask.sum(axis=a) == 0) | (mask.sum(axis=a) >= 2)).all() for a in (0, 1))
    ranges = attack(meta, withhold(cells, mask.reshape(-1)))
    pinned = {c for c, (lo, hi) in ranges.items() if hi - lo <= 1e-6}
    assert pinned == {(1, 3)}
    assert ranges[(1, 3)][0] == pytest.approx(12)


# -------------------------------------------------------------------------------------- protect: properties


def _values(table: pa.Table) -> npt.NDArray[np.int64]:
    return pc.drop_null(table.column("value")).to_numpy()


def test_small_counts_never_published_and_totals_kept() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 25, size=(6, 5, 3))
    meta, cells = build_cube(base)
    protected = protect(meta, cells)
    assert protected.schema == cells_schema(meta)
    assert protected.num_rows == cells.num_rows
    published = _values(protected)
    assert not ((published > 0) & (published < 10)).any()
    # every published value is the true one (suppression hides, it never alters)
    truth, _ = to_dense(meta, cells)
    shown, supp = to_dense(meta, protected)
    np.testing.assert_array_equal(shown[~supp], truth[~supp])
    # null value exactly where suppressed
    assert pc.sum(pc.is_null(protected.column("value"))).as_py() == int(supp.sum())
    # the published cells still satisfy additivity wherever a line is fully published
    for axis, d in enumerate(meta.dimensions):
        t = d.codes().index(TOTAL)
        s = np.moveaxis(shown, axis, 0)
        inner = np.delete(s, t, axis=0).sum(axis=0)
        ok = ~np.isnan(inner) & ~np.isnan(s[t])
        np.testing.assert_array_equal(inner[ok], s[t][ok])


def test_zeros_safe_and_not() -> None:
    base = np.array([[0, 40, 25], [31, 52, 18], [22, 19, 60]])
    meta, cells = build_cube(base)
    _, supp = to_dense(meta, protect(meta, cells))
    assert not supp.any(), "a zero is published when zeros are safe"
    _, supp = to_dense(meta, protect(meta, cells, zeros_safe=False))
    assert supp[1, 1]
    assert supp.sum() >= 4


def test_deterministic_and_row_order_independent() -> None:
    rng = np.random.default_rng(11)
    meta, cells = build_cube(rng.integers(0, 20, size=(5, 4, 3)))
    first = protect(meta, cells)
    assert protect(meta, cells).equals(first)
    perm = pa.array(rng.permutation(cells.num_rows))
    shuffled = protect(meta, cells.take(perm))
    key = [(d.code, "ascending") for d in meta.dimensions]
    assert shuffled.sort_by(key).equals(first.sort_by(key))


def test_already_withheld_cells_stay_withheld_and_protected() -> None:
    base = np.array([[40, 32, 25], [31, 52, 18], [22, 19, 60]])
    meta, cells = build_cube(base)
    mask = np.zeros(cells.num_rows, dtype=bool)
    mask[5] = True  # dense (1, 1): a cell withheld upstream, value unknown here
    protected = protect(meta, withhold(cells, mask))
    _, supp = to_dense(meta, protected)
    assert supp[1, 1]
    assert supp.sum() >= 4
    assert_safe(meta, protected)


def test_zeros_not_safe_are_withheld_with_partners() -> None:
    rng = np.random.default_rng(8)
    base = rng.choice([0, 15, 30, 50], size=(5, 4))
    meta, cells = build_cube(base)
    _, supp = to_dense(meta, protect(meta, cells, zeros_safe=False))
    truth, _ = to_dense(meta, cells)
    assert supp[truth == 0].all()
    for axis in range(2):
        assert not (supp.sum(axis=axis) == 1).any()


def test_min_frequency_parameter() -> None:
    base = np.array([[40, 12, 25], [31, 52, 18], [22, 19, 60]])
    meta, cells = build_cube(base)
    assert pc.sum(pc.is_null(protect(meta, cells).column("value"))).as_py() == 0
    strict = protect(meta, cells, min_frequency=15)
    assert not ((_values(strict) > 0) & (_values(strict) < 15)).any()
    assert_safe(meta, strict)


def test_incomplete_cube_refused() -> None:
    meta, cells = build_cube(np.array([[40, 12], [31, 52]]))
    with pytest.raises(ValueError, match="complete cube"):
        protect(meta, cells.slice(1))
    bad = cells.set_column(0, "d0", pa.array(["zz"] * cells.num_rows))
    with pytest.raises(ValueError, match="codes not in"):
        protect(meta, bad)


def test_large_cube_finishes() -> None:
    rng = np.random.default_rng(5)
    base = rng.negative_binomial(1, 0.08, size=(600, 20, 3, 5))
    meta, cells = build_cube(base)
    start = time.perf_counter()
    protected = protect(meta, cells)
    elapsed = time.perf_counter() - start
    published = _values(protected)
    assert not ((published > 0) & (published < 10)).any()
    _, supp = to_dense(meta, protected)
    for axis in range(supp.ndim):
        assert not (supp.sum(axis=axis) == 1).any(), "a line with a single suppressed cell"
    print(f"protect on {cells.num_rows} cells: {elapsed:.2f} s, {int(supp.sum())} suppressed")


# ---------------------------------------------------------------------------------------------- cell key

SECRET = b"test secret of the warehouse"


def test_record_keys_stable_and_keyed() -> None:
    ids = [f"p{i}" for i in range(100)]
    keys = record_keys(ids, secret=SECRET)
    assert keys.dtype == np.uint32
    assert keys.shape == (100,)
    np.testing.assert_array_equal(record_keys(pa.array(ids), secret=SECRET), keys)
    assert not np.array_equal(record_keys(ids, secret=b"another secret"), keys)
    assert len(set(keys.tolist())) == 100


def test_same_cell_same_answer_across_queries() -> None:
    ids = [f"p{i}" for i in range(500)]
    rng = np.random.default_rng(2)
    members = [ids[i] for i in rng.choice(500, size=37, replace=False)]
    # query 1 sees the cell's records in one order, query 2 (another table crossing it) in another
    key1 = cell_key(record_keys(members, secret=SECRET))
    key2 = cell_key(record_keys(list(reversed(members)), secret=SECRET))
    assert key1 == key2
    assert perturb(len(members), key1) == perturb(len(members), key2)
    other = cell_key(record_keys([*members[:-1], "p-other"], secret=SECRET))
    assert other != key1


def test_perturbation_properties() -> None:
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 2**32, size=20_000, dtype=np.uint64)
    for count in (10, 11, 12, 50, 1000):
        noisy = np.array([perturb(count, int(k)) for k in keys])
        assert np.abs(noisy - count).max() <= 2
        assert (noisy >= DEFAULT_PERTURBATION.threshold).all()
        assert abs(noisy.mean() - count) < 0.05
    assert {perturb(50, int(k)) for k in keys} == {48, 49, 50, 51, 52}
    assert all(perturb(10, int(k)) == 10 for k in keys[:100])  # no room below the threshold
    assert all(perturb(c, int(k)) == 0 for c in range(10) for k in keys[:50])
    with pytest.raises(ValueError, match="symmetric"):
        PerturbationTable(noise=((0, 0.5), (1, 0.5)))


# ---------------------------------------------------------------------------------------------- dominance


def _contributions() -> pa.Table:
    return pa.table(
        {
            "nace": ["A", "A", "A", "B", "B", "B", "B", "C", "C", "C"],
            "region": ["VLG"] * 10,
            "wage": [900, 50, 50, 300, 250, 250, 200, 100, 80, 5],
        }
    )


def test_dominance_rule() -> None:
    out = dominance_violations(_contributions(), cell_columns=["nace", "region"], value_column="wage")
    # A: 950 of 1000 > 90 %; B: 550 of 1000 no; C: 180 of 185 > 90 %
    assert out.column("nace").to_pylist() == ["A", "C"]
    assert out.column("top_n").to_pylist() == [950.0, 180.0]
    assert out.column("contributors").to_pylist() == [3, 3]
    loose = dominance_violations(_contributions(), cell_columns=["nace"], value_column="wage", n=1, k=0.5)
    assert loose.column("nace").to_pylist() == ["A", "C"]
    none = dominance_violations(_contributions(), cell_columns=["nace"], value_column="wage", n=3, k=0.99)
    assert none.column("nace").to_pylist() == ["A", "C"]  # three contributors: 100 % each
    with pytest.raises(ValueError, match="lack"):
        dominance_violations(_contributions(), cell_columns=["sector"], value_column="wage")
    # the whole table as one cell: 900 + 300 of 2185 is far from dominant
    assert dominance_violations(_contributions(), cell_columns=[], value_column="wage").num_rows == 0
    assert dominance_violations(_contributions(), cell_columns=[], value_column="wage", k=0.5).num_rows == 1


def test_p_rule() -> None:
    out = p_rule_violations(_contributions(), cell_columns=["nace"], value_column="wage")
    # A: 1000-900-50 = 50 < 90 → sensitive; B: 1000-300-250 = 450 ≥ 30; C: 185-100-80 = 5 < 10
    assert out.column("nace").to_pylist() == ["A", "C"]
    assert p_rule_violations(_contributions(), cell_columns=["nace"], value_column="wage", p=0.055).column(
        "nace"
    ).to_pylist() == ["C"]


# --------------------------------------------------------------------------------------------- k-anonymity

TO_ARR = {11001: 11, 11002: 11, 12005: 12, 21004: 21, 21009: 21, 52011: 52}
TO_REGION = {11: "VLG", 12: "VLG", 21: "BRU", 52: "WAL"}


def _microdata(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "person_id": [f"p{i}" for i in range(n)],
            "age": pa.array(rng.integers(18, 80, size=n), pa.int16()),
            "nis_code": pa.array(rng.choice(list(TO_ARR), size=n), pa.int32()),
            "sex": rng.choice(["M", "F"], size=n),
        }
    )


def test_k_anonymity_measure() -> None:
    t = pa.table({"a": [1, 1, 2, 2, 2], "b": ["x", "x", "y", "y", "z"]})
    assert k_anonymity(t, ["a"]) == 2
    assert k_anonymity(t, ["a", "b"]) == 1
    assert k_anonymity(t, []) == 5
    assert k_anonymity(t.slice(0, 0), ["a"]) == 0


def test_hierarchies() -> None:
    ages = pa.array([0, 24, 25, 39, None], pa.int16())
    levels = [h(ages).to_pylist() for h in age_hierarchy()]
    assert levels == [
        ["0", "24", "25", "39", None],
        ["0-4", "20-24", "25-29", "35-39", None],
        ["0-9", "20-29", "20-29", "30-39", None],
        ["0-19", "20-39", "20-39", "20-39", None],
        ["*"] * 5,
    ]
    nis = pa.array([11001, 21009, None, 52011], pa.int32())
    m = [h(nis).to_pylist() for h in municipality_hierarchy(TO_ARR, TO_REGION)]
    assert m == [
        ["11001", "21009", None, "52011"],
        ["11", "21", None, "52"],
        ["VLG", "BRU", None, "WAL"],
        ["*"] * 4,
    ]
    with pytest.raises(ValueError, match="arrondissement"):
        municipality_hierarchy(TO_ARR, TO_REGION)[1](pa.array([99999], pa.int32()))
    assert [h(pa.array(["M", "F"])).to_pylist() for h in suppress_hierarchy()] == [["M", "F"], ["*", "*"]]


def _constructed() -> tuple[pa.Table, dict[str, list[Callable[[pa.Array], pa.Array]]]]:
    """Two municipalities (different arrondissements and regions), each with the same ten ages once.

    5-year classes have 4 or 1 rows, 10-year classes 5, 20-year 10; merging the municipalities doubles."""
    ages = [20, 21, 22, 23, 26, 30, 31, 32, 36, 37] * 2
    nis = [11001] * 10 + [21004] * 10
    t = pa.table(
        {"age": pa.array(ages, pa.int16()), "nis_code": pa.array(nis, pa.int32()), "sex": ["F"] * 20}
    )
    hier = {
        "age": age_hierarchy(),
        "nis_code": municipality_hierarchy(TO_ARR, TO_REGION),
        "sex": suppress_hierarchy(),
    }
    return t, hier


@pytest.mark.parametrize(
    ("k", "levels", "achieved"),
    [
        (1, (0, 0, 0), 1),
        (2, (2, 0, 0), 5),  # 5-year (size 1) or a coarser place (still split) do not help; 10-year does
        (5, (2, 0, 0), 5),
        (6, (3, 0, 0), 10),  # 20-year classes; merging places only (0, 3) gives 2
        (11, (3, 3, 0), 20),  # regions still split the two: only "*" for the place with 20-year ages
    ],
)
def test_generalise_minimal_levels(k: int, levels: tuple[int, int, int], achieved: int) -> None:
    t, hier = _constructed()
    out = generalise(
        t, quasi_identifiers=["age", "nis_code", "sex"], hierarchies=hier, k=k, max_suppressed_fraction=0
    )
    assert out.levels == dict(zip(["age", "nis_code", "sex"], levels, strict=True))
    assert out.suppressed_rows == 0
    assert out.k == achieved
    assert out.k >= k
    assert out.table.num_rows == 20
    assert k_anonymity(out.table, ["age", "nis_code", "sex"]) == out.k
    assert out.table.column("age").type == pa.string()


def test_generalise_prefers_dropping_rows_to_generalising() -> None:
    """With room to drop rows, 5-year ages suffice for k=3 (classes 4, 1, 3, 2 per place: 3 rows dropped)."""
    t, hier = _constructed()
    out = generalise(
        t, quasi_identifiers=["age", "nis_code", "sex"], hierarchies=hier, k=3, max_suppressed_fraction=0.3
    )
    assert out.levels == {"age": 1, "nis_code": 0, "sex": 0}
    assert out.suppressed_rows == 6
    assert out.table.num_rows == 14
    assert out.k == 3
    assert set(out.table.column("age").to_pylist()) == {"20-24", "30-34"}
    # one row less allowed: the 10-year level it is
    tight = generalise(
        t, quasi_identifiers=["age", "nis_code", "sex"], hierarchies=hier, k=3, max_suppressed_fraction=0.25
    )
    assert tight.levels == {"age": 2, "nis_code": 0, "sex": 0}
    assert tight.suppressed_rows == 0


def test_generalise_suppresses_outliers_within_budget() -> None:
    t = _microdata(2000)
    outlier = pa.table(
        {
            "person_id": ["x"],
            "age": pa.array([99], pa.int16()),
            "nis_code": pa.array([52011], pa.int32()),
            "sex": ["M"],
        }
    )
    t = pa.concat_tables([t, outlier])
    hier = {
        "age": age_hierarchy(),
        "nis_code": municipality_hierarchy(TO_ARR, TO_REGION),
        "sex": suppress_hierarchy(),
    }
    out = generalise(t, quasi_identifiers=["age", "nis_code", "sex"], hierarchies=hier, k=10)
    assert out.k >= 10
    assert k_anonymity(out.table, ["age", "nis_code", "sex"]) == out.k
    assert out.suppressed_rows == t.num_rows - out.table.num_rows
    assert 1 <= out.suppressed_rows <= 0.01 * t.num_rows
    assert "x" not in out.table.column("person_id").to_pylist()
    assert out.table.column_names == t.column_names


def test_not_anonymisable() -> None:
    t = _microdata(30)
    hier = {
        "age": age_hierarchy(),
        "nis_code": municipality_hierarchy(TO_ARR, TO_REGION),
        "sex": suppress_hierarchy(),
    }
    with pytest.raises(NotAnonymisable, match="k=50"):
        generalise(t, quasi_identifiers=["age", "nis_code", "sex"], hierarchies=hier, k=50)
    assert issubclass(NotAnonymisable, ValueError)
    with pytest.raises(ValueError, match="hierarchy"):
        generalise(t, quasi_identifiers=["age", "person_id"], hierarchies=hier, k=2)


# ------------------------------------------------------------------------------------- protect_together


def test_linked_tables_withhold_the_same_cells_and_each_is_safe() -> None:
    """Households of two persons: persons = 2 × households, cell by cell. Protected one by one, a count of
    households from 5 to 9 is withheld while its persons (10 to 18) are published: read off by halving."""
    households = np.array([[40, 6, 25, 11], [31, 52, 18, 12], [22, 19, 60, 14], [15, 12, 8, 30]])
    meta_h, cells_h = build_cube(households)
    meta_p, cells_p = build_cube(2 * households)
    meta_p = TableMeta(id="p", application="household", title="persons", dimensions=meta_h.dimensions)
    alone_h, alone_p = protect(meta_h, cells_h), protect(meta_p, cells_p)
    withheld_h = pc.equal(alone_h.column("status"), SUPPRESSED).to_numpy(zero_copy_only=False)
    withheld_p = pc.equal(alone_p.column("status"), SUPPRESSED).to_numpy(zero_copy_only=False)
    assert (withheld_h & ~withheld_p).any()  # the leak protect_together closes
    together_h, together_p = protect_together([(meta_h, cells_h), (meta_p, cells_p)])
    same_h = pc.equal(together_h.column("status"), SUPPRESSED).to_numpy(zero_copy_only=False)
    same_p = pc.equal(together_p.column("status"), SUPPRESSED).to_numpy(zero_copy_only=False)
    assert (same_h == same_p).all()
    assert (withheld_h <= same_h).all()
    assert (withheld_p <= same_p).all()
    assert_safe(meta_h, together_h)
    assert_safe(meta_p, together_p)


def test_protect_together_refuses_tables_over_other_cubes() -> None:
    meta, cells = build_cube(np.array([[40, 6], [31, 52]]))
    other_meta, other_cells = build_cube(np.array([[40, 6, 1], [31, 52, 2]]))
    with pytest.raises(ValueError, match="same cube"):
        protect_together([(meta, cells), (other_meta, other_cells)])
    with pytest.raises(ValueError, match="order"):
        protect_together([(meta, cells), (meta, cells.take(list(reversed(range(cells.num_rows)))))])
