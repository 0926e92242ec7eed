"""Helpers of the source tests (imported relatively: ``from ..helpers import envelope``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from kruispunt.sources import persons
from kruispunt.sources.bis_register import service as bis_service
from kruispunt.sources.common import normalise_name, phonetic_key
from kruispunt.sources.national_register import service as nr_service

REQUESTER = {"institution": "0212344876", "sector": 17, "institution_type": 1}


def envelope(message_type: str, request: dict[str, Any], person: str | None = None) -> dict[str, Any]:
    return {
        "ticket": "7b0c3c5e-2f5c-4a4e-9d59-3f6f8f0b1a11",
        "message_type": message_type,
        "version": "1",
        "person": person,
        "request": request,
        "requester": REQUESTER,
    }


def insz(year: int, month: int, day: int, counter: int) -> str:
    """A valid number for these parts (month already offset for bis numbers)."""
    return bis_service.bis_number(year, month, day, counter)


def add_nr_person(
    conn: Connection, number: str, last_name: str, birth_date: str, sex: str = "M", first_names: str = "Jan"
) -> None:
    """Insert a hand-made person (no address) into the National Register."""
    row = (
        number,
        last_name,
        first_names,
        birth_date,
        int(birth_date[:4]),
        sex,
        "BE",
        10,
        None,
        phonetic_key(last_name),
        normalise_name(last_name),
        None,
        None,
    )
    persons.bulk_insert(conn, nr_service.TABLES.person, persons.PERSON_COLUMNS, [row])


def misspell(name: str) -> str:
    """Upper-case, no accents, one consonant doubled: spelled differently, sounds the same."""
    for i, ch in enumerate(name):
        if i > 0 and ch in "lmnrt" and name[i - 1] != ch:
            return (name[:i] + ch + name[i:]).upper()
    raise ValueError(name)
