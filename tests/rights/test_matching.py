"""Municipalities' files: each line answered, a bad line never stopping the others."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from kruispunt.rights import service
from kruispunt.rights.errors import RightsError
from tests.rights.conftest import ADULT, NEIGHBOUR, OCMW_GENT, PARTNER


def _resolve(last_name: str, first_name: str | None, birth_date: dt.date) -> str | None:
    if last_name == "Peeters" and birth_date == dt.date(1985, 3, 14):
        return ADULT
    if last_name == "Janssens":
        return "ambiguous"
    return None


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        service.load_statuses(
            conn,
            [
                {
                    "insz": ADULT,
                    "source_kbo": OCMW_GENT,
                    "kind": "leefloon",
                    "file_key": "G1",
                    "start": dt.date(2025, 6, 1),
                    "end": None,
                },
                {
                    "insz": PARTNER,
                    "source_kbo": "0411702543",
                    "kind": "increased_reimbursement",
                    "file_key": "M1",
                    "start": dt.date(2024, 1, 1),
                    "end": dt.date(2026, 3, 31),
                },
            ],
        )


def test_lines_are_matched_each_on_its_own(engine: Engine) -> None:
    _seed(engine)
    rows: list[dict[str, Any]] = [
        {"insz": ADULT},
        {"insz": "85031401799"},
        {"last_name": "Peeters", "first_name": "An", "birth_date": "1985-03-14"},
        {"last_name": "Nobody", "birth_date": "1990-01-01"},
        {"last_name": "Janssens", "birth_date": "1970-05-05"},
        {"insz": PARTNER},
        {"insz": NEIGHBOUR},
        {"insz": PARTNER, "statuses": ["no_such_status"]},
        {"first_name": "Only"},
    ]
    with engine.connect() as conn:
        lines = service.match_inhabitants(
            conn,
            rows=rows,
            statuses=["leefloon_or_equivalent", "increased_reimbursement"],
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 12, 31),
            resolve=_resolve,
        )
    assert [line.line for line in lines] == list(range(1, 10))
    assert [line.error for line in lines] == [
        None,
        "INVALID_INSZ",
        None,
        "NOT_FOUND",
        "AMBIGUOUS",
        None,
        None,
        "UNKNOWN_STATUS",
        "INVALID_LINE",
    ]
    (held,) = lines[0].statuses
    assert (held.status, held.start, held.end, held.sources) == (
        "leefloon_or_equivalent",
        dt.date(2026, 1, 1),
        dt.date(2026, 12, 31),
        (OCMW_GENT,),
    )
    assert lines[2].insz == ADULT
    assert lines[2].statuses == lines[0].statuses
    (partner,) = lines[5].statuses
    assert (partner.status, partner.start, partner.end) == (
        "increased_reimbursement",
        dt.date(2026, 1, 1),
        dt.date(2026, 3, 31),
    )
    assert lines[6].insz == NEIGHBOUR
    assert lines[6].statuses == ()
    assert lines[1].message
    assert "check digits" in lines[1].message


def test_an_unknown_status_for_the_whole_file_refuses_it(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(RightsError) as caught:
        service.match_inhabitants(
            conn,
            rows=[{"insz": ADULT}],
            statuses=["free_beer"],
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 12, 31),
            resolve=_resolve,
        )
    assert caught.value.code == "UNKNOWN_STATUS"
