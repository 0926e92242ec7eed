"""The development identity provider's people: living residents of the nation, passwords only as hashes."""

from __future__ import annotations

from pathlib import Path

from kruispunt.idp.seed import PEOPLE_FILE, read_people, write_people
from kruispunt.idp.service import verify_password
from kruispunt.simulate import generate_population


def test_people_are_living_residents_and_passwords_are_hashed(tmp_path: Path) -> None:
    population = generate_population(500, 11)
    logins = write_people(tmp_path, population, count=5)
    assert len(logins) == 5
    residents = {p["insz"] for p in population.records() if not p["is_bis"] and p["death_date"] is None}
    assert {x.insz for x in logins} <= residents
    stored = (tmp_path / PEOPLE_FILE).read_text(encoding="utf-8")
    assert all(x.password not in stored for x in logins)
    citizens, users = read_people(tmp_path)
    assert [c.insz for c in citizens] == [x.insz for x in logins]
    for login, user in zip(logins, users, strict=True):
        assert user.username == login.username
        assert verify_password(login.password, user.password_hash)
        assert not verify_password(login.password + "x", user.password_hash)
    again = write_people(tmp_path / "again", population, count=5)
    assert [x.password for x in again] != [x.password for x in logins]  # no fixed default password


def test_no_file_means_no_people(tmp_path: Path) -> None:
    assert read_people(tmp_path) == ([], [])
