"""Research requests: the workflow's steps in order only, each logged; coded extracts carry the research
project's codes (never an INSZ, never the warehouse's own codes); anonymous extracts are k-anonymous; one
delivery, none after the expiry, files destroyed after it; the history only for the researcher."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select

from kruispunt.coding import service as ttp
from kruispunt.coding.models import project_table
from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import is_valid_insz, make_insz
from kruispunt.warehouse import requests
from kruispunt.warehouse.models import metadata, request_event_table, research_request_table
from kruispunt.warehouse.schemas import PERSON_QUARTER, PROJECT

TODAY = dt.date(2027, 3, 1)
PEOPLE = [make_insz(dt.date(1950, 1, 1) + dt.timedelta(days=97 * i), 21 + i % 900) for i in range(240)]
QUARTERS = ("2024Q3", "2024Q4")


def write_snapshot(folder: Path, dwh_codes: list[str]) -> None:
    """A tiny person-quarter snapshot: two quarters, one Parquet file each (seeded, so reproducible)."""
    rng = random.Random(7)
    base: list[dict[str, Any]] = [
        {
            "sex": rng.choice("MF"),
            "age": rng.randint(16, 80),
            "region": rng.choice(["VLG", "WAL", "BRU"]),
            "nationality_group": rng.choice(["BE", "BE", "EU", "NON_EU"]),
        }
        for _ in dwh_codes
    ]
    for q_index, quarter in enumerate(QUARTERS):
        rows: dict[str, list[Any]] = {f.name: [] for f in PERSON_QUARTER}
        for i, (person, b) in enumerate(zip(dwh_codes, base, strict=True)):
            age = b["age"] + q_index // 4
            working = i % 3 != 0
            values: dict[str, Any] = {
                "person_id": person,
                "quarter": quarter,
                "sex": b["sex"],
                "age": age,
                "age_class": f"{age // 10 * 10}-{age // 10 * 10 + 9}",
                "nationality_group": b["nationality_group"],
                "nis_code": 21004 if b["region"] == "BRU" else 11002,
                "arrondissement": 21000 if b["region"] == "BRU" else 11000,
                "region": b["region"],
                "household_id": f"h{i // 2:05d}",
                "household_type": "couple",
                "household_size": 2,
                "position": "n111" if working else "n311",
                "position_group": "1" if working else "3",
                "nace_section": "C" if working else None,
                "joint_committee": "200" if working else None,
                "work_regime": "FT" if working else None,
                "wage_class": "3" if working else None,
                "employer_size": "50-99" if working else None,
                "unemployed": not working,
                "incapacity": False,
                "disability": False,
                "pension": age >= 67,
                "social_integration": False,
                "child_benefit": False,
            }
            for name, value in values.items():
                rows[name].append(value)
        target = folder / f"quarter={quarter}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pydict(rows, schema=PERSON_QUARTER), target / "part-0.parquet")


@dataclass
class World:
    warehouse: Engine
    coding: Engine
    snapshot: Path
    extracts: Path
    dwh_codes: list[str]

    def recoder(self, project: str) -> Callable[[list[str]], list[str]]:
        """What the warehouse's TTP client does: dwh codes → the project's codes (project created first)."""

        def recode(codes: list[str]) -> list[str]:
            with self.coding.begin() as conn:
                known = conn.execute(
                    select(project_table.c.project).where(project_table.c.project == project)
                )
                if known.first() is None:
                    ttp.create_project(conn, project=project, purpose="research request")
                return ttp.recode(conn, from_project=PROJECT, to_project=project, codes=codes)

        return recode

    def project_codes(self, project: str, inszs: list[str]) -> list[str]:
        with self.coding.begin() as conn:
            return ttp.code(conn, project=project, inszs=inszs)


@pytest.fixture
def world(fresh_db: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv(ttp.KEY_DIR_ENV, raising=False)
    urls = {c: fresh_db(c) for c in ("warehouse", "coding")}
    for component, url in urls.items():
        upgrade(url, component)
    coding = make_engine(urls["coding"])
    with coding.begin() as conn:
        ttp.create_project(conn, project=PROJECT, purpose="the warehouse")
        dwh_codes = ttp.code_many(conn, project=PROJECT, inszs=PEOPLE)
    write_snapshot(tmp_path / "snapshot", dwh_codes)
    w = World(make_engine(urls["warehouse"]), coding, tmp_path / "snapshot", tmp_path / "extracts", dwh_codes)
    yield w
    w.warehouse.dispose()
    coding.dispose()


REQUEST: dict[str, Any] = {
    "researcher": "r.peeters",
    "organisation": "KU Leuven",
    "purpose": "transitions from unemployment to work",
    "population": {"region": ["BRU", "VLG"], "age_min": 18},
    "variables": ["sex", "age", "region", "position_group"],
    "quarters": list(QUARTERS),
    "tier": "coded",
}


def file(world: World, **changes: Any) -> requests.ResearchRequest:
    with world.warehouse.begin() as conn:
        return requests.file_request(
            conn, **{**REQUEST, **changes}, available_quarters=requests.snapshot_quarters(world.snapshot)
        )


def authorise(world: World, request_id: int, *, expires: dt.date = dt.date(2027, 12, 31)) -> None:
    with world.warehouse.begin() as conn:
        requests.review(conn, request_id=request_id, reviewer="cbss.janssens", accepted=True, notes="minimal")
        requests.submit_to_committee(conn, request_id=request_id, reviewer="cbss.janssens")
        requests.decide(
            conn,
            request_id=request_id,
            approved=True,
            deliberation="27/042",
            conditions="no linkage with other data",
            expires=expires,
            decided_by="isc",
            today=TODAY,
        )


def produce(world: World, request_id: int, today: dt.date = TODAY, k: int = requests.K_ANONYMITY) -> Path:
    with world.warehouse.begin() as conn:
        return requests.produce_extract(
            conn,
            request_id=request_id,
            snapshot_dir=world.snapshot,
            extracts_dir=world.extracts,
            recode=world.recoder(requests.get_request(conn, request_id=request_id).project),
            today=today,
            k=k,
        )


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(research_request_table)).scalar_one(),
            conn.execute(select(func.count()).select_from(request_event_table)).scalar_one(),
        )


def strings_of(table: pa.Table) -> list[str]:
    return [v for c in table.columns if pa.types.is_string(c.type) for v in c.to_pylist() if v is not None]


def test_the_migration_builds_the_models(world: World) -> None:
    with world.warehouse.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []


def test_coded_request_from_filing_to_destruction(world: World) -> None:
    filed = file(world)
    assert filed.state == "submitted"
    authorise(world, filed.id)
    path = produce(world, filed.id)
    extract = pq.read_table(path)
    assert extract.column_names == ["person_id", "quarter", "sex", "age", "region", "position_group"]
    snapshot = pq.read_table(world.snapshot / "quarter=2024Q4" / "part-0.parquet")
    wanted = [
        r
        for r in snapshot.to_pylist()
        if r["region"] in ("BRU", "VLG") and r["age"] is not None and r["age"] >= 18
    ]
    assert extract.num_rows == 2 * len(wanted)
    assert set(extract.column("region").to_pylist()) <= {"BRU", "VLG"}
    assert min(extract.column("age").to_pylist()) >= 18
    # the codes are the research project's: not an INSZ, not the warehouse's own codes
    persons = set(extract.column("person_id").to_pylist())
    assert not persons & set(world.dwh_codes)
    assert not any(re.fullmatch(r"\d{11}", v) or is_valid_insz(v) for v in strings_of(extract))
    by_dwh = dict(zip(world.dwh_codes, PEOPLE, strict=True))
    expected = world.project_codes(filed.project, [by_dwh[r["person_id"]] for r in wanted])
    assert persons == set(expected)

    with world.warehouse.begin() as conn:
        delivered = requests.deliver(conn, request_id=filed.id, researcher="r.peeters", today=TODAY)
    assert delivered == path
    with pytest.raises(requests.RequestError) as twice, world.warehouse.begin() as conn:
        requests.deliver(conn, request_id=filed.id, researcher="r.peeters", today=TODAY)
    assert twice.value.code == "ALREADY_DELIVERED"

    with world.warehouse.begin() as conn:
        assert requests.expire(conn, today=dt.date(2027, 12, 31)) == []
        assert requests.expire(conn, today=dt.date(2028, 1, 1)) == [filed.id]
    assert not path.exists()
    with world.warehouse.connect() as conn:
        steps = requests.history(conn, request_id=filed.id, researcher="r.peeters")
    assert [(s["action"], s["to_state"]) for s in steps] == [
        ("file", "submitted"),
        ("accept", "reviewed"),
        ("submit_to_committee", "at_committee"),
        ("authorise", "authorised"),
        ("extract", "extracted"),
        ("coded", "extracted"),
        ("deliver", "delivered"),
        ("destroy", "destroyed"),
    ]
    assert [s["actor"] for s in steps][:4] == ["r.peeters", "cbss.janssens", "cbss.janssens", "isc"]
    assert steps[3]["detail"]["deliberation"] == "27/042"
    assert steps[-1]["detail"]["file_deleted"] is True


def test_anonymous_extract_is_k_anonymous_and_has_no_identifier(world: World) -> None:
    filed = file(
        world, tier="anonymous", population={}, variables=["sex", "age", "region"], quarters=["2024Q4"]
    )
    authorise(world, filed.id)
    path = produce(world, filed.id, k=5)
    extract = pq.read_table(path)
    assert "person_id" not in extract.column_names
    assert "household_id" not in extract.column_names
    assert extract.num_rows >= len(PEOPLE) * 0.99
    sizes = extract.group_by(extract.column_names).aggregate([([], "count_all")])
    assert min(sizes.column("count_all").to_pylist()) >= 5
    assert not set(strings_of(extract)) & set(world.dwh_codes)
    # the raw ages (80 years apart, 240 people) cannot be 5-anonymous with sex and region: generalised
    assert len(set(extract.column("age").to_pylist())) < 40
    with world.warehouse.connect() as conn:
        steps = requests.history(conn, request_id=filed.id, researcher="r.peeters")
    assert steps[-1]["action"] == "anonymised"
    assert steps[-1]["detail"]["k"] >= 5


def test_an_unreachable_k_is_refused_and_nothing_is_released(world: World) -> None:
    filed = file(world, tier="anonymous", population={}, variables=["sex"], quarters=["2024Q4"])
    authorise(world, filed.id)
    with pytest.raises(requests.RequestError) as refused:
        produce(world, filed.id, k=len(PEOPLE) + 1)
    assert refused.value.code == "NOT_ANONYMISABLE"
    assert not world.extracts.exists() or not list(world.extracts.iterdir())
    with world.warehouse.connect() as conn:
        assert requests.get_request(conn, request_id=filed.id).state == "authorised"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"variables": ["sex", "salary"]}, "UNKNOWN_VARIABLE"),
        ({"variables": ["person_id", "sex"]}, "IDENTIFIER_REQUESTED"),
        ({"variables": ["household_id"]}, "IDENTIFIER_REQUESTED"),
        ({"variables": []}, "INVALID_REQUEST"),
        ({"variables": ["sex", "sex"]}, "INVALID_REQUEST"),
        ({"quarters": ["2019Q1"]}, "UNKNOWN_QUARTER"),
        ({"quarters": ["2024Q5"]}, "UNKNOWN_QUARTER"),
        ({"quarters": "2024Q4"}, "INVALID_REQUEST"),
        ({"tier": "non-coded"}, "INVALID_TIER"),
        ({"researcher": " "}, "INVALID_REQUEST"),
        ({"researcher": "r" * 65}, "INVALID_REQUEST"),
        ({"population": {"person_id": ["x"]}}, "INVALID_POPULATION"),
        ({"population": {"region": "BRU"}}, "INVALID_POPULATION"),
        ({"population": {"nis_code": ["21004"]}}, "INVALID_POPULATION"),
        ({"population": {"nis_code": [2**40]}}, "INVALID_POPULATION"),
        ({"population": {"unemployed": [1]}}, "INVALID_POPULATION"),
        ({"population": {"age_min": 40, "age_max": 30}}, "INVALID_POPULATION"),
        ({"population": {"age_min": True}}, "INVALID_POPULATION"),
    ],
)
def test_a_malformed_request_is_refused_and_nothing_is_written(
    world: World, changes: dict[str, Any], code: str
) -> None:
    with pytest.raises(requests.RequestError) as refused:
        file(world, **changes)
    assert refused.value.code == code
    assert str(refused.value)
    assert counts(world.warehouse) == (0, 0)


def test_steps_out_of_order_are_refused_and_nothing_is_written(world: World) -> None:
    filed = file(world)
    before = counts(world.warehouse)
    for step in (
        lambda conn: requests.submit_to_committee(conn, request_id=filed.id, reviewer="cbss"),
        lambda conn: requests.decide(
            conn,
            request_id=filed.id,
            approved=True,
            deliberation="1",
            conditions="",
            expires=dt.date(2028, 1, 1),
            decided_by="isc",
            today=TODAY,
        ),
        lambda conn: requests.deliver(conn, request_id=filed.id, researcher="r.peeters", today=TODAY),
        lambda conn: requests.produce_extract(
            conn,
            request_id=filed.id,
            snapshot_dir=world.snapshot,
            extracts_dir=world.extracts,
            recode=None,
            today=TODAY,
        ),
    ):
        with pytest.raises(requests.RequestError) as refused, world.warehouse.begin() as conn:
            step(conn)
        assert refused.value.code == "WRONG_STATE"
        assert "submitted" in str(refused.value)
    with pytest.raises(requests.RequestError) as self_review, world.warehouse.begin() as conn:
        requests.review(conn, request_id=filed.id, reviewer="r.peeters", accepted=True, notes="")
    assert self_review.value.code == "SELF_REVIEW"
    with pytest.raises(requests.RequestError) as missing, world.warehouse.begin() as conn:
        requests.review(conn, request_id=999, reviewer="cbss", accepted=True, notes="")
    assert missing.value.code == "NOT_FOUND"
    assert counts(world.warehouse) == before
    with world.warehouse.begin() as conn:
        requests.review(conn, request_id=filed.id, reviewer="cbss", accepted=False, notes="not minimal")
    with pytest.raises(requests.RequestError) as closed, world.warehouse.begin() as conn:
        requests.submit_to_committee(conn, request_id=filed.id, reviewer="cbss")
    assert closed.value.code == "WRONG_STATE"


def test_refused_by_the_committee_is_final(world: World) -> None:
    filed = file(world)
    with world.warehouse.begin() as conn:
        requests.review(conn, request_id=filed.id, reviewer="cbss", accepted=True, notes="")
        requests.submit_to_committee(conn, request_id=filed.id, reviewer="cbss")
        with pytest.raises(requests.RequestError) as past:
            requests.decide(
                conn,
                request_id=filed.id,
                approved=True,
                deliberation="27/1",
                conditions="",
                expires=TODAY,
                decided_by="isc",
                today=TODAY,
            )
        assert past.value.code == "INVALID_DECISION"
        refused = requests.decide(
            conn,
            request_id=filed.id,
            approved=False,
            deliberation="27/1",
            conditions="not proportionate",
            expires=TODAY,
            decided_by="isc",
            today=TODAY,
        )
    assert (refused.state, refused.expires) == ("refused", None)
    with pytest.raises(requests.RequestError) as refused_extract:
        produce(world, filed.id)
    assert refused_extract.value.code == "WRONG_STATE"


def test_nothing_is_extracted_or_delivered_after_the_expiry(world: World) -> None:
    filed = file(world)
    authorise(world, filed.id, expires=dt.date(2027, 6, 30))
    with pytest.raises(requests.RequestError) as late:
        produce(world, filed.id, today=dt.date(2027, 7, 1))
    assert late.value.code == "APPROVAL_EXPIRED"
    path = produce(world, filed.id, today=dt.date(2027, 6, 30))
    with pytest.raises(requests.RequestError) as expired, world.warehouse.begin() as conn:
        requests.deliver(conn, request_id=filed.id, researcher="r.peeters", today=dt.date(2027, 7, 1))
    assert expired.value.code == "APPROVAL_EXPIRED"
    with world.warehouse.begin() as conn:  # undelivered, destroyed all the same
        assert requests.expire(conn, today=dt.date(2027, 7, 1)) == [filed.id]
    assert not path.exists()
    with pytest.raises(requests.RequestError) as gone, world.warehouse.begin() as conn:
        requests.deliver(conn, request_id=filed.id, researcher="r.peeters", today=dt.date(2027, 6, 1))
    assert gone.value.code == "WRONG_STATE"


def test_only_the_researcher_who_filed_sees_and_gets_it(world: World) -> None:
    filed = file(world)
    authorise(world, filed.id)
    produce(world, filed.id)
    with pytest.raises(requests.RequestError) as other, world.warehouse.connect() as conn:
        requests.history(conn, request_id=filed.id, researcher="someone.else")
    assert other.value.code == "NOT_FOUND"
    with pytest.raises(requests.RequestError) as other_delivery, world.warehouse.begin() as conn:
        requests.deliver(conn, request_id=filed.id, researcher="someone.else", today=TODAY)
    assert other_delivery.value.code == "NOT_FOUND"
    with world.warehouse.begin() as conn:
        requests.deliver(conn, request_id=filed.id, researcher="r.peeters", today=TODAY)


def test_an_empty_population_is_refused(world: World) -> None:
    filed = file(world, population={"region": ["ABROAD"]})
    authorise(world, filed.id)
    with pytest.raises(requests.RequestError) as empty:
        produce(world, filed.id)
    assert empty.value.code == "EMPTY_EXTRACT"


# ------------------------------------------------------------------------------------------- review fixes


def test_k_counts_persons_not_rows_over_several_quarters(world: World) -> None:
    """240 persons in two quarters: 480 rows. Starring the quarter made one class of 480 rows and so a
    "300-anonymous" release of 240 persons; the quarter is never generalised now, so it is refused."""
    filed = file(world, tier="anonymous", population={}, variables=["sex"], quarters=list(QUARTERS))
    authorise(world, filed.id)
    with pytest.raises(requests.RequestError) as refused:
        produce(world, filed.id, k=300)
    assert refused.value.code == "NOT_ANONYMISABLE"
    released = requests.anonymise(pa.table({"quarter": ["2024Q3", "2024Q4"] * 3}), k=3)
    assert sorted(released.table.column("quarter").to_pylist()) == ["2024Q3"] * 3 + ["2024Q4"] * 3


def test_extract_rows_do_not_keep_the_snapshots_order(world: World) -> None:
    """The snapshot is in the sources' INSZ order (birth dates): an extract comes sorted by what it shows."""
    anonymous = file(world, tier="anonymous", population={}, variables=["sex", "age"], quarters=["2024Q4"])
    coded = file(world, population={}, variables=["age"], quarters=list(QUARTERS))
    for filed in (anonymous, coded):
        authorise(world, filed.id)
    released = pq.read_table(produce(world, anonymous.id, k=5))
    assert released.equals(released.sort_by([(c, "ascending") for c in released.column_names]))
    extract = pq.read_table(produce(world, coded.id))
    keys = list(
        zip(extract.column("person_id").to_pylist(), extract.column("quarter").to_pylist(), strict=True)
    )
    assert keys == sorted(keys)


def test_each_request_gets_a_coding_project_of_its_own(world: World) -> None:
    """The project at the TTP is not ``req-<id>`` alone: a new warehouse database hands the ids out again."""
    first, second = file(world), file(world)
    assert first.project.startswith(f"req-{first.id}-")
    assert len({first.project, second.project, f"req-{first.id}"}) == 3
