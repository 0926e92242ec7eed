"""The person-quarter snapshot on hand-made coded extracts, on synthetic lives, and the SQL's portability."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from kruispunt.warehouse import nomenclature, snapshot
from kruispunt.warehouse.schemas import (
    CODED_EMPLOYERS,
    CODED_FILES,
    CODED_PERSONS,
    FILE_CATEGORY,
    PERSON_QUARTER,
)

Q4 = "2024Q4"
D = dt.date


def person(pid: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "person_id": pid,
        "sex": "F",
        "age": 40,
        "nationality": "BE",
        "nis_code": 11002,
        "household_id": f"h-{pid}",
        "relationship": "head",
    }
    row.update(kw)
    return row


def file(pid: str, kind: str, start: dt.date, end: dt.date | None = None, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in CODED_FILES.names}
    row.update(person_id=pid, source="x", kind=kind, start=start, end=end)
    row.update(kw)
    return row


def write_extracts(
    root: Path,
    quarter: str,
    persons: Iterable[dict[str, Any]],
    files: Iterable[dict[str, Any]],
    employers: Iterable[dict[str, Any]] = (),
) -> Path:
    folder = root / f"quarter={quarter}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, schema in (
        ("persons", persons, CODED_PERSONS),
        ("files", files, CODED_FILES),
        ("employers", employers, CODED_EMPLOYERS),
    ):
        pq.write_table(pa.Table.from_pylist(list(rows), schema=schema), folder / f"{name}.parquet")
    return root


def read_snapshot(root: Path, quarter: str) -> dict[str, dict[str, Any]]:
    table = pq.read_table(root / f"quarter={quarter}" / "part-0.parquet")
    return {r["person_id"]: r for r in table.to_pylist()}


EMPLOYERS = [
    {"employer_kbo": "E1", "nace": "C", "joint_committee": "111", "nis_code": 11002, "workers": 250},
    {"employer_kbo": "E2", "nace": "I", "joint_committee": "302", "nis_code": 21004, "workers": 3},
]
QS, QE = D(2024, 10, 1), D(2024, 12, 31)


def dmfa(pid: str, kbo: str, days: int, gross: int, start: dt.date = QS) -> dict[str, Any]:
    return file(
        pid,
        "dmfa_quarter",
        start,
        QE,
        employer_kbo=kbo,
        category="495",
        days=days,
        hours=days * 8,
        amount_cents=gross,
    )


def dimona(
    pid: str, kbo: str, start: dt.date, end: dt.date | None = None, wtype: str = "OTH"
) -> dict[str, Any]:
    return file(pid, "dimona_period", start, end, employer_kbo=kbo, category=wtype, joint_committee="111")


PERSONS = [
    # a worker who also has an unemployment file open on the last day: working wins
    person("worker_unemp", household_id="hA", relationship="head"),
    person("spouse", household_id="hA", relationship="spouse", sex="M"),
    person("child", household_id="hA", relationship="child", age=8),
    # a pensioner who works (flexi): working (occasional)
    person("pensioner_flexi", age=68, household_id="hB"),
    person("pensioner", age=75, household_id="hC", relationship="head"),
    person("partner", age=73, household_id="hC", relationship="partner", sex="M"),
    # single parent with a child entitled to child benefit, and a student of 20 with child benefit
    person("parent", household_id="hD"),
    person("kid", age=5, household_id="hD", relationship="child"),
    person("student", age=20, household_id="hD", relationship="child"),
    # nobody knows anything: unknown; abroad; unknown sex, EU national
    person("nothing", household_id="hE", nis_code=None),
    person("bis", sex="", nationality="FR", nis_code=None, household_id=None, relationship="", age=None),
    # ended job (before the last day) then unemployed: job seeker, no employment details
    person("laid_off", nationality="MA", household_id="hF", relationship="head"),
    person("other_member", household_id="hF", relationship="other"),
    person("leefloon", nis_code=44021, household_id="hG"),
    person("invalid", household_id="hH", nis_code=52011),
    person("part_time", household_id="hI", nis_code=21004),
    # married couple without children; unmarried couple with a child (no files: unknown)
    person("husband", household_id="hJ", sex="M"),
    person("wife", household_id="hJ", relationship="spouse"),
    person("cohab", household_id="hK"),
    person("cohab_partner", household_id="hK", relationship="partner", sex="M"),
    person("cohab_child", household_id="hK", relationship="child", age=3),
]

FILES = [
    dimona("worker_unemp", "E1", D(2020, 1, 1)),
    dmfa("worker_unemp", "E1", days=6571, gross=1_200_000),
    dmfa("worker_unemp", "E2", days=500, gross=50_000),
    file("worker_unemp", "unemployment", D(2024, 1, 1), category="full"),
    file("worker_unemp", "health_insurance", D(2015, 1, 1), category="holder"),
    file("spouse", "health_insurance", D(2015, 1, 1), category="dependant"),
    file("child", "entitling_child", D(2016, 3, 1)),
    file("pensioner_flexi", "pension", D(2021, 1, 1), category="retirement"),
    dimona("pensioner_flexi", "E2", D(2023, 5, 1), wtype="FLX"),
    dmfa("pensioner_flexi", "E2", days=1200, gross=150_000),
    file("pensioner", "pension", D(2015, 1, 1), category="retirement"),
    file("partner", "pension", D(2015, 1, 1), category="survivor"),
    file("kid", "entitling_child", D(2019, 6, 1)),
    file("student", "entitling_child", D(2015, 1, 1)),
    file("parent", "health_insurance", D(2015, 1, 1), category="holder"),
    # a file that ended the day before the last day does not count
    file("nothing", "pension", D(2015, 1, 1), D(2024, 12, 30), category="retirement"),
    dimona("laid_off", "E1", D(2022, 1, 1), D(2024, 11, 15)),
    dmfa("laid_off", "E1", days=3100, gross=600_000),
    file("laid_off", "unemployment", D(2024, 11, 16), category="full"),
    file("leefloon", "leefloon", D(2023, 1, 1), category="single"),
    file("leefloon", "unemployment", D(2020, 1, 1), D(2022, 1, 1), category="full"),
    file("invalid", "work_incapacity", D(2021, 1, 1), category="invalidity", percent=100),
    file("invalid", "income_replacement_allowance", D(2022, 1, 1), category="B"),
    # started mid-quarter, full-time over the days covered; second job part-time
    dimona("part_time", "E2", D(2024, 11, 1)),
    dmfa("part_time", "E2", days=2200, gross=300_000),
]


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, dict[str, Any]], int]:
    extracts = write_extracts(tmp_path / "extracts", Q4, PERSONS, FILES, EMPLOYERS)
    out = tmp_path / "snapshot"
    with duckdb.connect() as con:
        rows = snapshot.build_snapshot(con, extracts_dir=extracts, snapshot_dir=out, quarter=Q4)
    return out, read_snapshot(out, Q4), rows


def test_schema_and_row_count(built: tuple[Path, dict[str, dict[str, Any]], int]) -> None:
    out, snap, rows = built
    assert rows == len(PERSONS) == len(snap)
    assert pq.read_schema(out / f"quarter={Q4}" / "part-0.parquet").equals(PERSON_QUARTER)
    assert {r["quarter"] for r in snap.values()} == {Q4}


def test_positions(built: tuple[Path, dict[str, dict[str, Any]], int]) -> None:
    _, snap, _ = built
    expected = {
        "worker_unemp": "111",
        "spouse": "391",
        "child": "361",
        "pensioner_flexi": "112",
        "pensioner": "321",
        "partner": "322",
        "parent": "391",
        "kid": "361",
        "student": "362",
        "nothing": "411",
        "bis": "411",
        "laid_off": "211",
        "other_member": "411",
        "leefloon": "351",
        "invalid": "332",
        "part_time": "111",
        "husband": "411",
        "wife": "411",
        "cohab": "411",
        "cohab_partner": "411",
        "cohab_child": "411",
    }
    assert {k: v["position"] for k, v in snap.items()} == expected
    assert {k: v["position_group"] for k, v in snap.items()} == {k: v[0] for k, v in expected.items()}


def test_flags(built: tuple[Path, dict[str, dict[str, Any]], int]) -> None:
    _, snap, _ = built
    flags = ("unemployed", "incapacity", "disability", "pension", "social_integration", "child_benefit")
    on = {k: {f for f in flags if v[f]} for k, v in snap.items()}
    assert on["worker_unemp"] == {"unemployed"}
    assert on["pensioner_flexi"] == {"pension"}
    assert on["invalid"] == {"incapacity", "disability"}
    assert on["leefloon"] == {"social_integration"}
    assert on["kid"] == on["student"] == {"child_benefit"}
    assert on["nothing"] == set()


def test_employment_details(built: tuple[Path, dict[str, dict[str, Any]], int]) -> None:
    _, snap, _ = built
    w = snap["worker_unemp"]  # main employer E1 (most days): 6571/100 days over 92 covered days → full-time
    assert (w["nace_section"], w["joint_committee"], w["work_regime"]) == ("C", "111", "FT")
    assert w["employer_size"] == "S200T499"
    assert w["wage_class"] == "W140T199"  # 12,000 euro / 65.71 days = 182.6 euro a day
    f = snap["pensioner_flexi"]  # 12 days over the whole quarter: part-time; 150 euro/12 days = 125
    assert (f["nace_section"], f["work_regime"], f["wage_class"], f["employer_size"]) == (
        "I",
        "PT",
        "W100T139",
        "S1T4",
    )
    p = snap["part_time"]  # 22 days over 61 covered days (61*5/7 = 43.6): part-time
    assert p["work_regime"] == "PT"
    for pid in ("laid_off", "pensioner", "nothing", "child"):
        s = snap[pid]
        assert (
            s["nace_section"],
            s["joint_committee"],
            s["work_regime"],
            s["wage_class"],
            s["employer_size"],
        ) == (
            None,
            None,
            None,
            None,
            None,
        )


def test_full_time_over_covered_days(tmp_path: Path) -> None:
    """A full-time job that started mid-quarter is full-time: the reference is the days the Dimona covers."""
    persons = [person("a"), person("b")]
    files = [
        dimona("a", "E1", D(2024, 11, 1)),
        dmfa("a", "E1", days=4357, gross=800_000),  # 61 days * 5/7 = 43.57
        dimona("b", "E1", D(2024, 11, 1)),
        dmfa("b", "E1", days=3000, gross=800_000),
    ]
    extracts = write_extracts(tmp_path / "x", Q4, persons, files, EMPLOYERS)
    with duckdb.connect() as con:
        snapshot.build_snapshot(con, extracts_dir=extracts, snapshot_dir=tmp_path / "s", quarter=Q4)
    snap = read_snapshot(tmp_path / "s", Q4)
    assert (snap["a"]["work_regime"], snap["b"]["work_regime"]) == ("FT", "PT")


def test_households_and_geography(built: tuple[Path, dict[str, dict[str, Any]], int]) -> None:
    _, snap, _ = built
    types = {k: v["household_type"] for k, v in snap.items()}
    assert types["worker_unemp"] == types["spouse"] == types["child"] == "3"
    assert types["pensioner"] == types["partner"] == "4"
    assert types["parent"] == types["kid"] == types["student"] == "6"
    assert types["pensioner_flexi"] == "1"
    assert types["laid_off"] == types["other_member"] == "7"
    assert types["bis"] == "9"
    assert types["husband"] == types["wife"] == "2"
    assert types["cohab"] == types["cohab_partner"] == types["cohab_child"] == "5"
    assert snap["worker_unemp"]["household_size"] == 3
    assert snap["parent"]["household_size"] == 3
    assert snap["bis"]["household_size"] is None
    assert (snap["worker_unemp"]["region"], snap["worker_unemp"]["arrondissement"]) == ("VLG", 11000)
    assert (snap["invalid"]["region"], snap["invalid"]["arrondissement"]) == ("WAL", 52000)
    assert (snap["part_time"]["region"], snap["part_time"]["arrondissement"]) == ("BRU", 21000)
    assert (snap["nothing"]["region"], snap["nothing"]["arrondissement"]) == ("ABROAD", None)
    assert snap["bis"]["sex"] == "U"
    assert snap["spouse"]["sex"] == "M"
    assert snap["bis"]["nationality_group"] == "EU"
    assert snap["laid_off"]["nationality_group"] == "NON_EU"
    assert snap["worker_unemp"]["nationality_group"] == "BE"
    assert snap["bis"]["age_class"] == "UNK"
    assert snap["kid"]["age_class"] == "Y_LT18"
    assert snap["student"]["age_class"] == "Y18T24"
    assert snap["pensioner"]["age_class"] == "Y65T79"


def test_rerun_replaces_the_quarter(tmp_path: Path) -> None:
    out = tmp_path / "snapshot"
    with duckdb.connect() as con:
        extracts = write_extracts(tmp_path / "x", Q4, PERSONS, FILES, EMPLOYERS)
        assert snapshot.build_snapshot(con, extracts_dir=extracts, snapshot_dir=out, quarter=Q4) == len(
            PERSONS
        )
        (out / f"quarter={Q4}" / "stale.parquet").write_bytes(b"old")
        extracts = write_extracts(tmp_path / "y", Q4, PERSONS[:3], FILES, EMPLOYERS)
        assert snapshot.build_snapshot(con, extracts_dir=extracts, snapshot_dir=out, quarter=Q4) == 3
    assert sorted(p.name for p in out.iterdir()) == [f"quarter={Q4}"]
    assert sorted(p.name for p in (out / f"quarter={Q4}").iterdir()) == ["part-0.parquet"]
    assert set(read_snapshot(out, Q4)) == {"worker_unemp", "spouse", "child"}


def test_failed_build_keeps_the_previous_quarter(tmp_path: Path) -> None:
    out = tmp_path / "snapshot"
    extracts = write_extracts(tmp_path / "x", Q4, PERSONS, FILES, EMPLOYERS)
    with duckdb.connect() as con:
        snapshot.build_snapshot(con, extracts_dir=extracts, snapshot_dir=out, quarter=Q4)
        (extracts / f"quarter={Q4}" / "files.parquet").unlink()
        with pytest.raises(FileNotFoundError):
            snapshot.build_snapshot(con, extracts_dir=extracts, snapshot_dir=out, quarter=Q4)
    assert len(read_snapshot(out, Q4)) == len(PERSONS)
    assert sorted(p.name for p in out.iterdir()) == [f"quarter={Q4}"]


def test_quarter_bounds() -> None:
    assert snapshot.quarter_bounds("2024Q1") == (D(2024, 1, 1), D(2024, 3, 31))
    assert snapshot.quarter_bounds("2024Q4") == (D(2024, 10, 1), D(2024, 12, 31))
    with pytest.raises(ValueError, match="quarter"):
        snapshot.quarter_bounds("2024-4")


@pytest.mark.parametrize("name", sorted(snapshot.QUERIES))
@pytest.mark.parametrize("dialect", ["spark", "trino"])
def test_sql_transpiles(name: str, dialect: str) -> None:
    out = sqlglot.transpile(
        snapshot.QUERIES[name], read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    assert len(out) == 1
    assert "SELECT" in out[0].upper()


# --------------------------------------------------------------------------------- synthetic lives

_DMFA_FIELDS = {"days": "days", "hours": "hours", "gross_cents": "amount_cents"}


def synthetic_extracts(root: Path, persons: int, seed: int, quarter: str) -> Path:
    """A tiny stand-in for the real converter: simulate → coded extract of one quarter (identity coding)."""
    from kruispunt.simulate import iter_lives

    first, last = snapshot.quarter_bounds(quarter)
    p_rows: list[dict[str, Any]] = []
    f_rows: list[dict[str, Any]] = []
    employers: dict[str, dict[str, Any]] = {}
    for batch, lives in iter_lives(persons, seed):
        for r in batch.records():
            death = r["death_date"]
            if death is not None and death == death and death <= last:  # NaT != NaT
                continue
            birth = r["birth_date"]
            year, month = int(birth[:4]), int(birth[5:7]) or 7
            day = int(birth[8:10]) or 15
            age = last.year - year - ((last.month, last.day) < (month, day))
            p_rows.append(
                {
                    "person_id": r["insz"],
                    "sex": r["sex"],
                    "age": age,
                    "nationality": r["nationality"],
                    "nis_code": None if r["nis_code"] < 0 else int(r["nis_code"]),
                    "household": None if r["household_id"] < 0 else str(r["household_id"]),
                    "relationship": r["relationship"],
                }
            )
        for f in lives.records():
            end = f["end"]
            if f["start"] > last or (end is not None and end < first):
                continue
            attrs = f["attrs"]
            cat_key = FILE_CATEGORY[f["kind"]]
            row = {
                "person_id": f["insz"],
                "source": f["source"],
                "kind": f["kind"],
                "start": f["start"],
                "end": end,
                "employer_kbo": attrs.get("employer_kbo"),
                "joint_committee": attrs.get("joint_committee"),
                "category": None if not cat_key or attrs.get(cat_key) is None else str(attrs[cat_key]),
                "amount_cents": attrs.get("gross_cents", attrs.get("monthly_amount_cents")),
                "days": attrs.get("days"),
                "hours": attrs.get("hours"),
                "percent": attrs.get("degree_percent", attrs.get("incapacity_percent")),
            }
            if f["kind"] == "career_break":
                row["percent"] = {"full": 100, "half": 50, "one_fifth": 20}[attrs["fraction"]]
            f_rows.append(row)
            kbo = attrs.get("employer_kbo")
            if f["kind"] == "dimona_period" and kbo:
                employers[kbo] = {
                    "employer_kbo": kbo,
                    "nace": "C",
                    "joint_committee": attrs["joint_committee"],
                    "nis_code": None,
                    "workers": 10 + len(kbo) % 7,
                }
    for r in p_rows:
        r["household_id"] = r.pop("household")
    return write_extracts(root, quarter, p_rows, f_rows, employers.values())


def test_synthetic_lives_match_the_python_rule(tmp_path: Path) -> None:
    """On simulated people, the SQL gives every person the code that :func:`nomenclature.classify` gives."""
    extracts = synthetic_extracts(tmp_path / "x", 2000, 1, Q4)
    out = tmp_path / "s"
    with duckdb.connect() as con:
        rows = snapshot.build_snapshot(con, extracts_dir=extracts, snapshot_dir=out, quarter=Q4)
    snap = read_snapshot(out, Q4)
    persons = pq.read_table(extracts / f"quarter={Q4}" / "persons.parquet").to_pylist()
    assert rows == len(persons) == len(snap) > 1500
    active: dict[str, list[nomenclature.ActiveFile]] = {}
    for f in pq.read_table(extracts / f"quarter={Q4}" / "files.parquet").to_pylist():
        if f["start"] <= QE and (f["end"] is None or f["end"] >= QE):
            active.setdefault(f["person_id"], []).append(
                nomenclature.ActiveFile(f["kind"], f["category"], f["percent"])
            )
    mismatches = [
        p["person_id"]
        for p in persons
        if nomenclature.classify(active.get(p["person_id"], []), age=p["age"])
        != snap[p["person_id"]]["position"]
    ]
    assert mismatches == []
    groups = {g: sum(1 for s in snap.values() if s["position_group"] == g) for g in "1234"}
    assert groups["1"] > 0.3 * rows
    assert groups["2"] > 0
    assert groups["3"] > 0.2 * rows
    salaried = [s for s in snap.values() if s["position"].startswith("11")]
    assert all(s["work_regime"] in ("FT", "PT") for s in salaried)
    ft = sum(s["work_regime"] == "FT" for s in salaried) / len(salaried)
    assert 0.55 < ft < 0.9  # simulate.lives draws 72 % full-time jobs
    assert {s["household_type"] for s in snap.values()} >= {"1", "2", "3", "4", "5", "6", "9"}
    assert {s["region"] for s in snap.values()} == {"VLG", "WAL", "BRU", "ABROAD"}
