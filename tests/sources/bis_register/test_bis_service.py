"""Bis register service functions on SQLite and PostgreSQL: issuing numbers, identification, proofs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert
from stdnum.be import bis, nn

from kruispunt.simulate import PopulationBatch
from kruispunt.sources.bis_register import service
from kruispunt.sources.bis_register.models import metadata, person_table
from kruispunt.sources.bis_register.schemas import AddressIn
from kruispunt.sources.common import PersonDataIn

from ..helpers import misspell

ADDRESS = AddressIn(
    street="Rue de la Gare", house_number="12", postal_code="59000", municipality="Lille", country="FR"
)


def _issue(engine: Engine, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "last_name": "Dupont",
        "first_names": "Marie",
        "birth_date": "1985-07-30",
        "sex": "F",
        "nationality": "FR",
        "address": ADDRESS,
    }
    fields.update(overrides)
    with engine.begin() as conn:
        return service.issue_bis_number(conn, **fields)


def test_migrations_match_models_and_load(bis_engine: Engine, population: PopulationBatch) -> None:
    with bis_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert service.count_persons(conn) == int(population.is_bis.sum()) > 0


def test_issued_numbers_are_valid_bis_numbers(bis_engine: Engine) -> None:
    woman = _issue(bis_engine)
    man = _issue(bis_engine, sex="M", first_names="Pierre")
    unknown = _issue(bis_engine, sex=None, first_names="Alex")
    assert all(bis.is_valid(n) and not nn.is_valid(n) for n in (woman, man, unknown))
    assert woman.startswith("854730")
    assert int(woman[6:9]) % 2 == 0
    assert bis.get_gender(woman) == "F"
    assert man.startswith("854730")
    assert int(man[6:9]) % 2 == 1
    assert bis.get_gender(man) == "M"
    assert unknown.startswith("852730")
    assert bis.get_gender(unknown) is None
    assert bis.get_birth_date(woman).isoformat() == "1985-07-30"


def test_incomplete_birth_dates_and_century(bis_engine: Engine) -> None:
    no_day = _issue(bis_engine, birth_date="1990-03-00")
    no_month = _issue(bis_engine, birth_date="1990-00-00", sex=None)
    young = _issue(bis_engine, birth_date="2001-09-07", sex="M")
    assert no_day.startswith("904300")
    assert bis.is_valid(no_day)
    assert bis.get_birth_month(no_day) == 3
    assert no_month.startswith("902000")
    assert bis.is_valid(no_month)
    assert bis.get_birth_year(no_month) == 1990
    assert young.startswith("014907")
    assert bis.get_birth_year(young) == 2001
    with bis_engine.connect() as conn:
        found = service.identify_by_insz(conn, insz=no_day)
    assert found is not None
    assert found.birth_date == "1990-03-00"
    assert found.sex == "F"
    assert found.address is not None
    assert found.address.municipality == "Lille"
    assert found.address.nis_code is None


def test_repeated_issuance_gives_unique_numbers(bis_engine: Engine) -> None:
    numbers = [_issue(bis_engine, sex=("M", "F", None)[i % 3], first_names=f"P{i}") for i in range(90)]
    assert len(set(numbers)) == 90
    assert all(bis.is_valid(n) for n in numbers)
    men = sorted(int(n[6:9]) for n in numbers if n[2:4] == "47" and int(n[6:9]) % 2)
    assert men == list(range(1, 61, 2))


def test_exhausted_prefix_falls_back_to_month_00(bis_engine: Engine) -> None:
    with bis_engine.begin() as conn:
        conn.execute(
            insert(person_table).values(
                insz=service.bis_number(1970, 41, 2, 997),
                last_name="Vol",
                first_names="A",
                birth_date="1970-01-02",
                birth_year=1970,
                sex="M",
                last_name_key="FL",
                last_name_norm="vol",
                number_prefix="704102",
                counter=997,
                issued_at=datetime.now(UTC),
            )
        )
    number = _issue(bis_engine, birth_date="1970-01-02", sex="M")
    assert number.startswith("704000")
    assert bis.is_valid(number)


def test_identify_and_search(bis_engine: Engine, people: list[dict[str, Any]]) -> None:
    p = next(
        x
        for x in people
        if x["is_bis"]
        and x["sex"]
        and not x["birth_date"].endswith("-00")
        and any(c in "lmnrt" for c in x["last_name"][1:])
    )
    nr_person = next(x for x in people if not x["is_bis"])
    with bis_engine.connect() as conn:
        found = service.identify_by_insz(conn, insz=p["insz"])
        assert service.identify_by_insz(conn, insz=nr_person["insz"]) is None
        hits = service.search(conn, last_name=misspell(p["last_name"]), birth_date=p["birth_date"])
    assert found is not None
    assert found.last_name == p["last_name"]
    assert found.address is not None
    assert found.address.nis_code is None
    assert found.address.municipality == p["municipality"]
    assert p["insz"] in [h.insz for h in hits]


def test_verify_proof(bis_engine: Engine) -> None:
    number = _issue(bis_engine, last_name="Lefèbvre", birth_date="1975-00-00", sex=None)
    with bis_engine.connect() as conn:
        good = service.verify_proof(
            conn, insz=number, person_data=PersonDataIn(last_name="LEFEBVRE", birth_date="1975-06-08")
        )
        bad = service.verify_proof(
            conn, insz=number, person_data=PersonDataIn(last_name="Lefèbvre", birth_date="1976-00-00")
        )
        card = service.verify_proof(conn, insz=number, sis_card_number="1234567890")
    assert good is not None
    assert good.match
    assert bad is not None
    assert not bad.match
    assert bad.reason == "person data do not match (birth date)"
    assert card is not None
    assert not card.match


def test_bad_arguments(bis_engine: Engine) -> None:
    with pytest.raises(ValueError, match="sex"):
        _issue(bis_engine, sex="X")
    with pytest.raises(ValueError, match="incomplete date"):
        _issue(bis_engine, birth_date="1980-00-05")
    with pytest.raises(ValueError, match="1900-2099"):
        _issue(bis_engine, birth_date="1890-01-01")
