"""Statuses consistent with each person's life: the files of the social-security sources on the synthetic
nation, checked against the people they describe (ages, households, deaths, residence) and the contract
of :data:`kruispunt.simulate.lives.KINDS`."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest

from kruispunt.ids import is_valid_dimona_period_id, is_valid_enterprise_number, is_valid_rsz_employer_number
from kruispunt.simulate import REFERENCE_DATE, PopulationBatch, generate_population
from kruispunt.simulate.employers import EmployerTable, generate_employers
from kruispunt.simulate.lives import (
    CHILD_BENEFIT_FUNDS,
    HISTORY_START,
    KINDS,
    MUTUALITIES,
    OCMWS,
    SOURCES,
    StatusBatch,
    employer_count,
    iter_lives,
    region_of_nis,
    statuses_for,
)

SEED = 20261128
PERSONS = 20_000
LAST_DAY = REFERENCE_DATE - timedelta(days=1)

# The contract of the brief, written out independently of KINDS.
CONTRACT: dict[str, tuple[str, int, set[str]]] = {
    "dimona_period": (
        "rsz",
        30,
        {"employer_kbo", "employer_rsz", "employer_name", "worker_type", "joint_committee", "dimona_id"},
    ),
    "dmfa_quarter": ("rsz", 10, {"employer_kbo", "quarter", "worker_code", "gross_cents", "days", "hours"}),
    "unemployment": ("rva", 1, {"category", "daily_amount_cents", "payment_body"}),
    "temporary_unemployment": ("rva", 1, {"reason", "employer_kbo", "payment_body"}),
    "career_break": ("rva", 2, {"scheme", "fraction"}),
    "health_insurance": ("nic", 1, {"role", "holder_insz", "title"}),
    "increased_reimbursement": ("nic", 1, {"basis", "role"}),
    "work_incapacity": ("nic", 2, {"type", "degree_percent"}),
    "leefloon": ("ocmw", 2, {"category", "monthly_amount_cents"}),
    "equivalent_leefloon": ("ocmw", 3, {"category", "monthly_amount_cents"}),
    "other_aid": ("ocmw", 4, {"aid"}),
    "income_replacement_allowance": ("han", 5, {"category", "monthly_amount_cents"}),
    "integration_allowance": ("han", 5, {"category", "monthly_amount_cents"}),
    "elderly_assistance_allowance": ("han", 7, {"category", "monthly_amount_cents"}),
    "medical_recognition": ("han", 3, {"points", "earning_capacity_reduced"}),
    "pension": ("fpd", 100, {"scheme", "type", "monthly_amount_cents"}),
    "igo": ("fpd", 30, {"monthly_amount_cents", "cohabiting"}),
    "entitling_child": ("child_benefit", 104, {"allowance_recipient_insz", "region", "monthly_amount_cents"}),
    "allowance_recipient": ("child_benefit", 102, {"child_insz"}),
    "work_accident": ("fedris", 10, {"accident_date", "employer_kbo", "incapacity_percent", "consolidated"}),
    "occupational_disease": ("fedris", 10, {"disease_code", "incapacity_percent"}),
}
FIXED_MEMBERS = {
    "rsz": "0206731645",
    "rva": "0206737484",
    "han": "0367303366",
    "fpd": "0206738078",
    "fedris": "0206734318",
}
ENUMS: dict[tuple[str, str], set[Any]] = {
    ("dimona_period", "worker_type"): {"OTH", "STU", "FLX", "EXT"},
    ("dmfa_quarter", "worker_code"): {"015", "495"},
    ("dmfa_quarter", "quarter"): {"2024-1", "2024-2", "2024-3", "2024-4"},
    ("unemployment", "category"): {"full"},
    ("unemployment", "payment_body"): {"HVW", "ACV", "ABVV", "ACLVB"},
    ("temporary_unemployment", "reason"): {"economic", "force_majeure", "weather"},
    ("temporary_unemployment", "payment_body"): {"HVW", "ACV", "ABVV", "ACLVB"},
    ("career_break", "scheme"): {"time_credit", "thematic_leave", "career_break"},
    ("career_break", "fraction"): {"full", "half", "one_fifth"},
    ("health_insurance", "role"): {"holder", "dependant"},
    ("health_insurance", "title"): {
        "worker",
        "unemployed",
        "pensioner",
        "disabled",
        "resident",
        "student",
        "dependant",
    },
    ("increased_reimbursement", "basis"): {"leefloon", "igo", "disability_allowance", "income"},
    ("increased_reimbursement", "role"): {"holder", "dependant"},
    ("work_incapacity", "type"): {"primary_incapacity", "invalidity", "maternity_leave"},
    ("leefloon", "category"): {"cohabitant", "single", "family"},
    ("equivalent_leefloon", "category"): {"cohabitant", "single", "family"},
    ("other_aid", "aid"): {"heating_allowance", "medical_costs", "rent_guarantee", "food_aid"},
    ("income_replacement_allowance", "category"): {"A", "B", "C"},
    ("integration_allowance", "category"): {1, 2, 3, 4, 5},
    ("elderly_assistance_allowance", "category"): {1, 2, 3, 4, 5},
    ("pension", "scheme"): {"employee", "self_employed", "civil_servant", "mixed"},
    ("pension", "type"): {"retirement", "survivor"},
    ("entitling_child", "region"): {"VL", "WAL", "BXL", "DG"},
    ("occupational_disease", "disease_code"): {"1.605.03", "1.606.22", "1.605.12"},
}


@dataclass
class Person:
    insz: str
    is_bis: bool
    sex: str
    birth: date  # unknown month/day: July / 15th, as lives.py counts them
    age: float
    death: date | None
    household: int
    relationship: str
    nis: int
    nationality: str
    civil_state: int


def _birth(text: str) -> date:
    year, month, day = (int(x) for x in text.split("-"))
    if month == 0:
        return date(year, 7, 1)
    return date(year, month, day or 15)


@dataclass
class World:
    batch: PopulationBatch
    employers: EmployerTable
    statuses: StatusBatch
    people: dict[str, Person]
    rows: list[dict[str, Any]]
    by_person: dict[str, list[dict[str, Any]]]
    households: dict[int, list[Person]]


@pytest.fixture(scope="module")
def world() -> World:
    batch = generate_population(PERSONS, SEED)
    employers = generate_employers(SEED, employer_count(PERSONS))
    statuses = statuses_for(batch, seed=SEED, employers=employers)
    people: dict[str, Person] = {}
    households: dict[int, list[Person]] = defaultdict(list)
    for r in batch.records():
        birth = _birth(r["birth_date"])
        death = r["death_date"]
        p = Person(
            insz=r["insz"],
            is_bis=r["is_bis"],
            sex=r["sex"],
            birth=birth,
            age=(REFERENCE_DATE - birth).days / 365.2425,
            death=death,
            household=r["household_id"],
            relationship=r["relationship"],
            nis=r["nis_code"],
            nationality=r["nationality"],
            civil_state=r["civil_state"],
        )
        people[p.insz] = p
        if p.household >= 0 and death is None:
            households[p.household].append(p)
    rows = list(statuses.records())
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_person[row["insz"]].append(row)
    return World(batch, employers, statuses, people, rows, by_person, households)


def _of(world: World, kind: str) -> list[dict[str, Any]]:
    return [r for r in world.rows if r["kind"] == kind]


def _is_open(row: dict[str, Any]) -> bool:
    return row["end"] is None


# ------------------------------------------------------------------------------------------- the contract


def test_kinds_follow_the_contract() -> None:
    assert set(KINDS) == set(CONTRACT)
    for kind, (source, capacity, keys) in CONTRACT.items():
        assert KINDS[kind].source == source
        assert KINDS[kind].capacity == capacity
        assert set(KINDS[kind].attrs) == keys
    assert set(SOURCES) == {info.source for info in KINDS.values()}


def test_columns_and_dtypes(world: World) -> None:
    s = world.statuses
    assert len(s) > PERSONS
    assert s.insz.dtype == np.dtype("U11")
    assert s.source.dtype == np.dtype("U16")
    assert s.kind.dtype == object
    assert s.member.dtype == np.dtype("U10")
    assert s.capacity.dtype == np.int16
    assert s.start.dtype == np.dtype("datetime64[D]")
    assert s.end.dtype == np.dtype("datetime64[D]")
    assert s.attrs.dtype == object
    for f in fields(s):
        assert len(getattr(s, f.name)) == len(s)


def test_every_kind_appears(world: World) -> None:
    counts = Counter(r["kind"] for r in world.rows)
    assert set(counts) == set(KINDS)


def test_every_insz_is_a_person_of_the_batch(world: World) -> None:
    assert set(world.statuses.insz.tolist()) <= set(world.people)


def test_source_capacity_and_exact_attrs(world: World) -> None:
    for row in world.rows:
        source, capacity, keys = CONTRACT[row["kind"]]
        assert row["source"] == source
        assert row["capacity"] == capacity
        assert set(row["attrs"]) == keys, row


def _json_safe(value: Any) -> bool:
    return value is None or type(value) in (str, int, bool)


def test_attrs_are_json_safe_without_floats(world: World) -> None:
    for row in world.rows:
        attrs = row["attrs"]
        assert all(_json_safe(v) for v in attrs.values()), row
        assert json.loads(json.dumps(attrs)) == attrs
        for key, value in attrs.items():
            if key.endswith("_cents") or key in ("days", "hours", "degree_percent", "incapacity_percent"):
                assert type(value) is int, row
                assert value >= 0, row


def test_enumerated_values(world: World) -> None:
    for row in world.rows:
        for (kind, key), allowed in ENUMS.items():
            if row["kind"] == kind:
                assert row["attrs"][key] in allowed, row


def test_members(world: World) -> None:
    funds = set(CHILD_BENEFIT_FUNDS.values())
    assert all(is_valid_enterprise_number(m) for m in set(world.statuses.member.tolist()))
    for row in world.rows:
        source, member = row["source"], row["member"]
        if source in FIXED_MEMBERS:
            assert member == FIXED_MEMBERS[source]
        elif source == "nic":
            assert member in MUTUALITIES
        elif source == "ocmw":
            assert member == OCMWS[world.people[row["insz"]].nis]
        else:
            assert member in funds


def test_sorted_by_kind_then_person(world: World) -> None:
    kinds = list(KINDS)
    order = [kinds.index(r["kind"]) for r in world.rows]
    assert order == sorted(order)


# ---------------------------------------------------------------------------------------------- dates


def test_dates_within_the_history(world: World) -> None:
    for row in world.rows:
        assert HISTORY_START <= row["start"] <= LAST_DAY, row
        if row["end"] is not None:
            assert row["start"] <= row["end"] <= LAST_DAY, row


def test_the_dead_have_no_open_file_and_nothing_after_death(world: World) -> None:
    dead_with_files = 0
    for insz, rows in world.by_person.items():
        death = world.people[insz].death
        if death is None:
            continue
        dead_with_files += 1
        for row in rows:
            assert row["end"] is not None, row
            assert row["start"] <= death, row
            assert row["end"] <= death, row
    assert dead_with_files > 100
    # and the files of the dead do end at death: their health insurance
    for insz, rows in world.by_person.items():
        death = world.people[insz].death
        if death is not None:
            assert any(r["kind"] == "health_insurance" and r["end"] == death for r in rows)


def test_the_bis_people_only_have_rsz_nic_fedris(world: World) -> None:
    bis_with_files = 0
    for insz, rows in world.by_person.items():
        if not world.people[insz].is_bis:
            continue
        bis_with_files += 1
        assert {r["source"] for r in rows} <= {"rsz", "nic", "fedris"}
        health = [r for r in rows if r["kind"] == "health_insurance"]
        assert len(health) == 1
        assert health[0]["attrs"] == {"role": "holder", "holder_insz": None, "title": "worker"}
        assert any(r["kind"] == "dimona_period" and _is_open(r) for r in rows)
    working_age = [p for p in world.people.values() if p.is_bis and 18 <= p.age < 67]
    share = bis_with_files / len(working_age)
    assert 0.30 < share < 0.50


# ------------------------------------------------------------------------------------------------ ages


def test_nobody_under_16_works_and_students_are_16_to_24(world: World) -> None:
    for row in _of(world, "dimona_period"):
        person = world.people[row["insz"]]
        assert person.age >= 16
        if row["attrs"]["worker_type"] == "STU":
            assert 16 <= person.age < 25
            first_month = (row["start"].month - 1) // 3 * 3 + 1
            assert (row["end"].year, (row["end"].month - 1) // 3 * 3 + 1) == (row["start"].year, first_month)
        else:
            assert person.age >= 18 or person.death is not None


def test_pensions_from_60_and_elderly_assistance_from_65(world: World) -> None:
    for row in _of(world, "pension") + _of(world, "igo"):
        person = world.people[row["insz"]]
        at_start = (row["start"] - person.birth).days / 365.2425
        assert at_start >= 59.99, row
        assert person.age >= 60
    for row in _of(world, "elderly_assistance_allowance"):
        person = world.people[row["insz"]]
        assert (row["start"] - person.birth).days / 365.2425 >= 64.99
    living_old = [p for p in world.people.values() if not p.is_bis and p.death is None and p.age >= 65]
    pensioned = {r["insz"] for r in _of(world, "pension") if _is_open(r)}
    assert sum(p.insz in pensioned for p in living_old) / len(living_old) > 0.93


def test_survivor_pensions_only_for_the_widowed(world: World) -> None:
    for row in _of(world, "pension"):
        if row["attrs"]["type"] == "survivor":
            assert world.people[row["insz"]].civil_state == 30


def test_disability_allowances_for_adults_with_a_recognition(world: World) -> None:
    recognised = {r["insz"] for r in _of(world, "medical_recognition")}
    for kind in ("income_replacement_allowance", "integration_allowance"):
        for row in _of(world, kind):
            assert 18 <= world.people[row["insz"]].age < 65
            assert row["insz"] in recognised


# ---------------------------------------------------------------------------------------------- health


def test_every_living_resident_has_one_health_insurance(world: World) -> None:
    insured = Counter(r["insz"] for r in _of(world, "health_insurance") if _is_open(r))
    for person in world.people.values():
        expected = 1 if (person.death is None and not person.is_bis) else insured.get(person.insz, 0)
        assert insured.get(person.insz, 0) == expected
        assert expected <= 1


def test_dependants_belong_to_a_holder_of_their_household_and_mutuality(world: World) -> None:
    health = {r["insz"]: r for r in _of(world, "health_insurance") if _is_open(r)}
    dependants = [r for r in health.values() if r["attrs"]["role"] == "dependant"]
    assert len(dependants) > PERSONS // 10
    for row in dependants:
        person = world.people[row["insz"]]
        holder_insz = row["attrs"]["holder_insz"]
        holder = world.people[holder_insz]
        assert holder.household == person.household
        assert holder.relationship in ("head", "spouse", "partner")
        assert health[holder_insz]["attrs"]["role"] == "holder"
        assert health[holder_insz]["member"] == row["member"]
        assert row["attrs"]["title"] == "dependant"
        if person.relationship == "child":
            assert person.age < 25
        else:
            assert person.relationship in ("spouse", "partner")
            assert holder.relationship == "head"
    for row in health.values():
        if row["attrs"]["role"] == "holder":
            assert row["attrs"]["holder_insz"] is None


def test_a_household_shares_one_mutuality(world: World) -> None:
    member_of: dict[int, set[str]] = defaultdict(set)
    for row in _of(world, "health_insurance"):
        person = world.people[row["insz"]]
        if person.household >= 0 and person.death is None:
            member_of[person.household].add(row["member"])
    assert all(len(m) == 1 for m in member_of.values())
    shares = Counter(m.pop() for m in member_of.values())
    assert shares.most_common(1)[0][0] == "0411702543"


def test_nic_files_at_the_persons_mutuality(world: World) -> None:
    mutuality = {r["insz"]: r["member"] for r in _of(world, "health_insurance")}
    for kind in ("increased_reimbursement", "work_incapacity"):
        for row in _of(world, kind):
            assert row["member"] == mutuality[row["insz"]]


def test_increased_reimbursement_follows_the_benefits(world: World) -> None:
    reimbursed = {r["insz"]: r for r in _of(world, "increased_reimbursement")}
    basis = {
        "leefloon": "leefloon",
        "equivalent_leefloon": "leefloon",
        "igo": "igo",
        "income_replacement_allowance": "disability_allowance",
        "integration_allowance": "disability_allowance",
    }
    for kind, expected in basis.items():
        for row in _of(world, kind):
            if _is_open(row) and world.people[row["insz"]].death is None:
                assert reimbursed[row["insz"]]["attrs"] == {"basis": expected, "role": "holder"}
    health = {r["insz"]: r for r in _of(world, "health_insurance") if _is_open(r)}
    for insz, row in reimbursed.items():
        h = health[insz]["attrs"]
        assert row["attrs"]["role"] == h["role"]
        if h["role"] == "dependant":
            assert reimbursed[h["holder_insz"]]["attrs"]["basis"] == row["attrs"]["basis"]
    income = sum(r["attrs"]["basis"] == "income" for r in reimbursed.values())
    assert 0.03 < income / len(health) < 0.15


def test_work_incapacity_types(world: World) -> None:
    for row in _of(world, "work_incapacity"):
        person = world.people[row["insz"]]
        kind = row["attrs"]["type"]
        if kind == "maternity_leave":
            assert person.sex == "F"
            assert row["attrs"]["degree_percent"] == 100
        elif _is_open(row):
            long = (REFERENCE_DATE - row["start"]).days > 365
            assert (kind == "invalidity") == long, row


# ------------------------------------------------------------------------------------------ child benefit


def test_child_benefit_recipient_lives_with_the_child(world: World) -> None:
    received = defaultdict(set)
    for row in _of(world, "allowance_recipient"):
        received[row["insz"]].add((row["attrs"]["child_insz"], row["member"]))
    children = _of(world, "entitling_child")
    assert len(children) > PERSONS // 10
    with_mother = {
        h
        for h, members in world.households.items()
        if any(p.sex == "F" and p.relationship in ("head", "spouse", "partner") for p in members)
    }
    for row in children:
        child = world.people[row["insz"]]
        recipient = world.people[row["attrs"]["allowance_recipient_insz"]]
        assert child.relationship == "child"
        assert child.age < 25
        assert child.death is None
        assert recipient.household == child.household
        assert recipient.relationship in ("head", "spouse", "partner")
        if child.household in with_mother:
            assert recipient.sex == "F"
        else:
            assert recipient.relationship == "head"
        region = str(region_of_nis(np.array([child.nis]))[0])
        assert row["attrs"]["region"] == region
        assert row["member"] == CHILD_BENEFIT_FUNDS[region]
        assert 17_000 <= row["attrs"]["monthly_amount_cents"] <= 30_000
        assert (row["insz"], row["member"]) in received[recipient.insz]
    assert sum(len(v) for v in received.values()) == len(children)


def test_every_minor_with_a_parent_is_entitled(world: World) -> None:
    entitled = {r["insz"] for r in _of(world, "entitling_child")}
    for members in world.households.values():
        has_parent = any(p.relationship in ("head", "spouse", "partner") for p in members)
        for p in members:
            if p.relationship == "child" and p.age < 18 and has_parent:
                assert p.insz in entitled


def test_regions() -> None:
    nis = np.array([21004, 63023, 63087, 25072, 52011, 62063, 92094, 85045, 11002, 44021, 23088, 71022, -1])
    assert region_of_nis(nis).tolist() == [
        "BXL",
        "DG",
        "DG",
        "WAL",
        "WAL",
        "WAL",
        "WAL",
        "WAL",
        "VL",
        "VL",
        "VL",
        "VL",
        "",
    ]


# ------------------------------------------------------------------------------------------------ ocmw


def test_ocmw_files_only_in_the_three_municipalities(world: World) -> None:
    ocmw = [r for r in world.rows if r["source"] == "ocmw"]
    assert ocmw
    for row in ocmw:
        person = world.people[row["insz"]]
        assert person.nis in OCMWS
        assert person.death is None
        assert person.age >= 18
        if row["kind"] == "equivalent_leefloon":
            assert person.nationality in ("MA", "TR")
        if row["kind"] == "leefloon":
            assert person.nationality not in ("MA", "TR")


# ------------------------------------------------------------------------------------------------- rsz


def test_dimona_ids_valid_and_unique(world: World) -> None:
    ids = [r["attrs"]["dimona_id"] for r in _of(world, "dimona_period")]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 12 and is_valid_dimona_period_id(i) for i in ids)


def test_dimona_employers_come_from_the_table(world: World) -> None:
    table = {r["kbo"]: r for r in world.employers.records()}
    for row in _of(world, "dimona_period"):
        a = row["attrs"]
        employer = table[a["employer_kbo"]]
        assert a["employer_rsz"] == employer["rsz"]
        assert is_valid_rsz_employer_number(a["employer_rsz"])
        assert a["employer_name"] == employer["name"]
        assert a["joint_committee"] == employer["joint_committee"]


def test_employment_history(world: World) -> None:
    jobs = defaultdict(list)
    for row in _of(world, "dimona_period"):
        jobs[row["insz"]].append(row)
    for rows in jobs.values():
        main = [r for r in rows if _is_open(r) and r["attrs"]["worker_type"] == "OTH"]
        assert len(main) <= 1
    working_age = [p for p in world.people.values() if not p.is_bis and p.death is None and 18 <= p.age < 67]
    employed = sum(
        any(_is_open(r) and r["attrs"]["worker_type"] != "STU" for r in jobs.get(p.insz, []))
        for p in working_age
    )
    assert 0.58 < employed / len(working_age) < 0.72
    unemployed = {r["insz"] for r in _of(world, "unemployment") if _is_open(r)}
    assert 0.05 < sum(p.insz in unemployed for p in working_age) / len(working_age) < 0.09


def test_dmfa_quarters_follow_the_dimona_periods(world: World) -> None:
    quarters = {
        "2024-1": (date(2024, 1, 1), date(2024, 3, 31)),
        "2024-2": (date(2024, 4, 1), date(2024, 6, 30)),
        "2024-3": (date(2024, 7, 1), date(2024, 9, 30)),
        "2024-4": (date(2024, 10, 1), date(2024, 12, 31)),
    }
    periods = defaultdict(list)
    committee = {}
    for row in _of(world, "dimona_period"):
        if row["attrs"]["worker_type"] != "STU":
            key = (row["insz"], row["attrs"]["employer_kbo"])
            periods[key].append((row["start"], row["end"] or LAST_DAY))
            committee[row["attrs"]["employer_kbo"]] = row["attrs"]["joint_committee"]
    dmfa = _of(world, "dmfa_quarter")
    assert dmfa
    for row in dmfa:
        a = row["attrs"]
        first, last = quarters[a["quarter"]]
        death = world.people[row["insz"]].death
        assert (row["start"], row["end"]) == (first, min(last, death or last))
        spans = periods[(row["insz"], a["employer_kbo"])]
        assert any(s <= last and e >= first for s, e in spans), row
        jc = committee[a["employer_kbo"]]
        if jc.startswith("1"):
            assert a["worker_code"] == "015"
        elif jc.startswith("2"):
            assert a["worker_code"] == "495"
        assert a["days"] > 0
        assert a["hours"] > 0
        assert a["gross_cents"] > 0
    # every quarter covered by an open job has its row
    keys = {(r["insz"], r["attrs"]["employer_kbo"], r["attrs"]["quarter"]) for r in dmfa}
    for (insz, kbo), spans in periods.items():
        for label, (first, last) in quarters.items():
            if any(s <= last and e >= first for s, e in spans):
                assert (insz, kbo, label) in keys


def _current_employers(world: World, insz: str) -> set[str]:
    return {
        r["attrs"]["employer_kbo"]
        for r in world.by_person[insz]
        if r["kind"] == "dimona_period" and _is_open(r) and r["attrs"]["worker_type"] != "STU"
    }


def test_accidents_and_temporary_unemployment_with_the_current_employer(world: World) -> None:
    for kind in ("work_accident", "temporary_unemployment"):
        rows = _of(world, kind)
        assert rows
        for row in rows:
            assert row["attrs"]["employer_kbo"] in _current_employers(world, row["insz"])
    for row in _of(world, "work_accident"):
        assert row["attrs"]["accident_date"] == row["start"].isoformat()
    for row in _of(world, "career_break"):
        assert 25 <= world.people[row["insz"]].age < 60
        assert _current_employers(world, row["insz"])


# ------------------------------------------------------------------------------------------ determinism


def test_deterministic(world: World) -> None:
    again = statuses_for(world.batch, seed=SEED, employers=world.employers)
    for f in fields(StatusBatch):
        a, b = getattr(world.statuses, f.name), getattr(again, f.name)
        if f.name == "attrs":
            assert a.tolist() == b.tolist()
        else:
            assert np.array_equal(a, b, equal_nan=f.name in ("start", "end"))
    other = statuses_for(world.batch, seed=SEED + 1, employers=world.employers)
    assert other.attrs.tolist() != world.statuses.attrs.tolist()


def test_for_source_and_records(world: World) -> None:
    total = 0
    for source in SOURCES:
        part = world.statuses.for_source(source)
        assert set(part.source.tolist()) == {source}
        total += len(part)
    assert total == len(world.statuses)
    first = next(world.statuses.records())
    assert set(first) == {"insz", "source", "kind", "member", "capacity", "start", "end", "attrs"}
    assert isinstance(first["start"], date)


def test_empty_batch(world: World) -> None:
    empty = statuses_for(world.batch.take(0, 0), seed=SEED, employers=world.employers)
    assert len(empty) == 0
    assert list(empty.records()) == []


def test_iter_lives_keeps_households_whole_and_is_deterministic() -> None:
    first = list(iter_lives(5_000, SEED, chunk_size=1_500))
    second = list(iter_lives(5_000, SEED, chunk_size=1_500))
    assert sum(len(b) for b, _ in first) == 5_000
    seen: set[int] = set()
    for (batch, statuses), (batch2, statuses2) in zip(first, second, strict=True):
        assert np.array_equal(batch.insz, batch2.insz)
        assert statuses.attrs.tolist() == statuses2.attrs.tolist()
        households = set(batch.household_id[batch.household_id >= 0].tolist())
        assert not households & seen
        seen |= households
        assert set(statuses.insz.tolist()) <= set(batch.insz.tolist())
    assert np.array_equal(np.concatenate([b.insz for b, _ in first]), generate_population(5_000, SEED).insz)
