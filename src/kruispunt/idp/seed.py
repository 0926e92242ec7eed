"""The development identity provider's people, drawn from the synthetic nation (``kruispunt up``).

``write_people`` picks living residents of the nation, writes ``people.yaml`` (citizens who can log in with
eID, itsme or the app, and one username + password account each, stored as scrypt hashes) and returns the
logins with their passwords, which ``up`` writes to ``examples/logins.txt`` for the developer. Passwords are
random per run: there is no default account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from kruispunt.idp.service import DevUser, TestCitizen, hash_password
from kruispunt.simulate import PopulationBatch

PEOPLE_FILE = "people.yaml"


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    insz: str
    name: str


def write_people(folder: Path, population: PopulationBatch, *, count: int = 12) -> list[Login]:
    """``folder/people.yaml`` with ``count`` living residents of ``population``; their logins."""
    logins: list[Login] = []
    for person in population.records():
        if len(logins) >= count:
            break
        if person["is_bis"] or person["death_date"] is not None or person["household_id"] < 0:
            continue
        first = str(person["first_names"]).split()[0]
        name = f"{first} {person['last_name']}"
        username = f"{first.lower()}{len(logins) + 1}"
        logins.append(Login(username, secrets.token_urlsafe(9), str(person["insz"]), name))
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "citizens": [{"insz": x.insz, "name": x.name} for x in logins],
        "users": [
            {
                "username": x.username,
                "name": x.name,
                "password_hash": hash_password(x.password),
                "insz": x.insz,
            }
            for x in logins
        ],
    }
    (folder / PEOPLE_FILE).write_text(
        yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return logins


def read_people(folder: Path) -> tuple[list[TestCitizen], list[DevUser]]:
    """The citizens and accounts ``write_people`` wrote (none when the file is missing)."""
    path = folder / PEOPLE_FILE
    if not path.is_file():
        return [], []
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    citizens = [TestCitizen(insz=str(c["insz"]), name=str(c["name"])) for c in doc.get("citizens", [])]
    users = [
        DevUser(
            username=str(u["username"]),
            name=str(u["name"]),
            password_hash=str(u["password_hash"]),
            insz=str(u["insz"]) if u.get("insz") else None,
        )
        for u in doc.get("users", [])
    ]
    return citizens, users
