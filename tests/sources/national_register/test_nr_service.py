"""National Register service functions on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from kruispunt.core.migrate import current_revision, head_revision
from kruispunt.simulate import PopulationBatch
from kruispunt.sources.common import PersonDataIn
from kruispunt.sources.national_register import service
from kruispunt.sources.national_register.models import metadata

from ..helpers import add_nr_person, insz, misspell


def _resident(people: list[dict[str, Any]], **want: Any) -> dict[str, Any]:
    for p in people:
        if p["is_bis"] or p["death_date"] is not None:
            continue
        if all(p[k] == v for k, v in want.items()):
            return p
    raise LookupError(want)


def _with_children(people: list[dict[str, Any]]) -> dict[str, Any]:
    households = {
        p["household_id"] for p in people if p["relationship"] == "child" and p["death_date"] is None
    }
    return next(p for p in people if p["household_id"] in households and p["relationship"] == "head")


def test_migrations_match_models_and_load_counts(nr_engine: Engine, population: PopulationBatch) -> None:
    assert current_revision(nr_engine, "national_register") == head_revision("national_register")
    with nr_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert service.count_persons(conn) == int((~population.is_bis).sum())
        names = {i["name"] for i in inspect(conn).get_indexes("person")}
        assert "ix_person_phonetic" in names  # rebuilt after the bulk load


def test_identify_by_insz(nr_engine: Engine, people: list[dict[str, Any]]) -> None:
    p = _resident(people)
    with nr_engine.connect() as conn:
        found = service.identify_by_insz(conn, insz=p["insz"])
        bis_person = next(x for x in people if x["is_bis"])
        assert service.identify_by_insz(conn, insz=bis_person["insz"]) is None
        assert service.identify_by_insz(conn, insz="85073003328") is None
    assert found is not None
    assert (found.last_name, found.first_names, found.birth_date, found.sex) == (
        p["last_name"],
        p["first_names"],
        p["birth_date"],
        p["sex"],
    )
    assert found.nationality == p["nationality"]
    assert found.civil_state == p["civil_state"]
    assert found.address is not None
    assert (found.address.street, found.address.postal_code, found.address.nis_code) == (
        p["street"],
        p["postal_code"],
        p["nis_code"],
    )


def test_phonetic_search_finds_a_misspelled_name(nr_engine: Engine, people: list[dict[str, Any]]) -> None:
    p = next(x for x in people if not x["is_bis"] and any(c in "lmnrt" for c in x["last_name"][1:]))
    with nr_engine.connect() as conn:
        hits = service.search(conn, last_name=misspell(p["last_name"]), birth_date=p["birth_date"])
        by_year = service.search(
            conn, last_name=misspell(p["last_name"]), birth_date=p["birth_date"][:4] + "-00-00", maximum=100
        )
        by_month = service.search(
            conn, last_name=p["last_name"], birth_date=p["birth_date"][:7] + "-00", sex=p["sex"], maximum=100
        )
        other_sex = service.search(
            conn, last_name=p["last_name"], birth_date=p["birth_date"], sex="F" if p["sex"] == "M" else "M"
        )
        first = service.search(
            conn,
            last_name=p["last_name"],
            birth_date=p["birth_date"],
            first_name=p["first_names"].split()[0].lower(),
        )
        wrong_first = service.search(
            conn, last_name=p["last_name"], birth_date=p["birth_date"], first_name="Zebedeus"
        )
    assert p["insz"] in [h.insz for h in hits]
    assert p["insz"] in [h.insz for h in by_year]
    assert p["insz"] in [h.insz for h in by_month]
    assert p["insz"] not in [h.insz for h in other_sex]
    assert p["insz"] in [h.insz for h in first]
    assert p["insz"] not in [h.insz for h in wrong_first]


def test_search_tolerance_and_ranking(nr_engine: Engine) -> None:
    # a name family absent from the simulated lists: Schoonjans, Schoonjan and Schonjans sound alike
    with nr_engine.begin() as conn:
        add_nr_person(conn, insz(1980, 5, 5, 901), "Schoonjan", "1980-05-05")
        add_nr_person(conn, insz(1980, 5, 5, 903), "Schoonjans", "1980-05-05")
        add_nr_person(conn, insz(1981, 5, 5, 901), "Schoonjans", "1981-05-05")
        add_nr_person(conn, insz(1980, 5, 6, 901), "Schonjans", "1980-05-06")
        add_nr_person(conn, insz(1982, 5, 5, 901), "Schoonjans", "1982-05-05", sex="M")
    with nr_engine.connect() as conn:
        exact = service.search(conn, last_name="Schoonjans", birth_date="1980-05-05")
        tolerant = service.search(conn, last_name="schoonjans", birth_date="1980-05-05", tolerance_years=1)
        year = service.search(conn, last_name="SCHOONJAN", birth_date="1980-00-00")
        capped = service.search(conn, last_name="Schonjans", birth_date="1980-00-00", maximum=2)
        nothing = service.search(conn, last_name="Xylofoon", birth_date="1980-05-05")
    # exact name first, the same sound next; other years only with a tolerance
    assert [(p.last_name, p.birth_date) for p in exact] == [
        ("Schoonjans", "1980-05-05"),
        ("Schoonjan", "1980-05-05"),
    ]
    assert [(p.last_name, p.birth_date) for p in tolerant] == [
        ("Schoonjans", "1980-05-05"),
        ("Schoonjans", "1981-05-05"),
        ("Schoonjan", "1980-05-05"),
        ("Schonjans", "1980-05-06"),
    ]
    assert [(p.last_name, p.birth_date) for p in year] == [
        ("Schoonjan", "1980-05-05"),
        ("Schoonjans", "1980-05-05"),
        ("Schonjans", "1980-05-06"),
    ]
    assert [p.last_name for p in capped] == ["Schonjans", "Schoonjan"]
    assert nothing == []


def test_family_composition(nr_engine: Engine, people: list[dict[str, Any]]) -> None:
    head = _with_children(people)
    expected = {
        p["insz"]: p["relationship"]
        for p in people
        if p["household_id"] == head["household_id"] and p["death_date"] is None
    }
    child = next(i for i, r in expected.items() if r == "child")
    with nr_engine.connect() as conn:
        data = service.family_composition(conn, insz=child)
        assert service.family_composition(conn, insz="85073003328") is None
    assert data is not None
    assert data.household_id == head["household_id"]
    assert {m.insz: m.relationship for m in data.members} == expected
    assert data.members[0].relationship == "head"
    assert data.members[0].insz == head["insz"]


def test_deceased_person(nr_engine: Engine, people: list[dict[str, Any]]) -> None:
    dead = next(p for p in people if p["death_date"] is not None)
    with nr_engine.connect() as conn:
        found = service.identify_by_insz(conn, insz=dead["insz"])
        household = service.family_composition(conn, insz=dead["insz"])
        history = service.address_history(conn, insz=dead["insz"])
    assert found is not None
    assert found.death_date == dead["death_date"]
    assert found.address is not None  # the last address
    assert household is not None
    assert [m.insz for m in household.members] == [dead["insz"]]
    assert history
    assert history[-1].end == dead["death_date"]


def test_address_history(
    nr_engine: Engine, population: PopulationBatch, people: list[dict[str, Any]]
) -> None:
    a = population.addresses
    p = next(x for x in people if not x["is_bis"] and (a.person_index == x["index"]).sum() >= 3)
    rows = (a.person_index == p["index"]).nonzero()[0]
    with nr_engine.connect() as conn:
        history = service.address_history(conn, insz=p["insz"])
        assert service.address_history(conn, insz="85073003328") is None
    assert history is not None
    assert [(h.street, h.start, h.end) for h in history] == [
        (a.street[i], a.start[i].item(), None if a.end[i] != a.end[i] else a.end[i].item()) for i in rows
    ]
    assert history[-1].end is None
    assert all(h.end is not None for h in history[:-1])


@pytest.mark.parametrize(
    ("proof", "match"),
    [
        ({"identity_card_number": "id"}, True),
        ({"sis_card_number": "sis"}, True),
        ({"identity_card_number": "999999999999"}, False),
        ({"person_data": "upper"}, True),
        ({"person_data": "year-only"}, True),
        ({"person_data": "other-name"}, False),
        ({"person_data": "other-year"}, False),
        ({"identity_card_number": "999999999999", "person_data": "upper"}, True),
    ],
)
def test_verify_proof(
    nr_engine: Engine, people: list[dict[str, Any]], proof: dict[str, str], match: bool
) -> None:
    p = next(
        x
        for x in people
        if not x["is_bis"] and x["sis_card_number"] and x["identity_card_number"] and x["death_date"] is None
    )
    year = int(p["birth_date"][:4])
    data = {
        "upper": PersonDataIn(
            last_name=p["last_name"].upper(),
            birth_date=p["birth_date"],
            first_name=p["first_names"].split()[0],
        ),
        "year-only": PersonDataIn(last_name=f" {p['last_name'].lower()}", birth_date=f"{year}-00-00"),
        "other-name": PersonDataIn(last_name=p["last_name"] + "x", birth_date=p["birth_date"]),
        "other-year": PersonDataIn(last_name=p["last_name"], birth_date=f"{year + 1}-00-00"),
    }
    kwargs: dict[str, Any] = {}
    for key, value in proof.items():
        if key == "person_data":
            kwargs[key] = data[value]
        else:
            kwargs[key] = {"id": p["identity_card_number"], "sis": p["sis_card_number"]}.get(value, value)
    with nr_engine.connect() as conn:
        reply = service.verify_proof(conn, insz=p["insz"], **kwargs)
        assert service.verify_proof(conn, insz="85073003328", sis_card_number="1234567890") is None
    assert reply is not None
    assert reply.match is match
    assert (reply.reason is None) is match


def test_load_into_a_non_empty_register_keeps_indexes(nr_engine: Engine, population: PopulationBatch) -> None:
    more = population.take(0, 0)
    assert service.load_population(nr_engine, [more]) == 0
    with nr_engine.connect() as conn:
        assert "ix_person_phonetic" in {i["name"] for i in inspect(conn).get_indexes("person")}
        service.ensure_indexes(conn)
        service.set_meta(conn, {"a": "1"})
        service.set_meta(conn, {"a": "2", "b": "3"})
        assert service.get_meta(conn) == {"a": "2", "b": "3"}
        service.clear_population(conn)
        assert service.count_persons(conn) == 0
        assert service.get_meta(conn) == {}


def test_dates_are_dates(nr_engine: Engine, people: list[dict[str, Any]]) -> None:
    p = _resident(people)
    with nr_engine.connect() as conn:
        history = service.address_history(conn, insz=p["insz"])
    assert history
    assert isinstance(history[0].start, date)
