"""Shared fixtures of the rights tests: a migrated rights database (SQLite and PostgreSQL), valid INSZ
numbers, and builders of the changes the network delivers."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import make_insz
from kruispunt.mutations.schemas import CHANGE_ADAPTER, Change

TODAY = dt.date(2026, 12, 7)
OCMW_GENT = "0212140186"
HAN = "0367303366"
RVA = "0206737484"
NATIONAL_REGISTER = "0362475538"
FOD_ECONOMIE = "0314595348"
NMBS = "0203430576"
SUPPLIER = "0910000352"
OTHER_SUPPLIER = "0910000451"

ADULT = make_insz(dt.date(1985, 3, 14), 17)
PARTNER = make_insz(dt.date(1987, 6, 2), 22)
CHILD = make_insz(dt.date(2015, 9, 30), 3)
NEIGHBOUR = make_insz(dt.date(1960, 1, 20), 41)

_ids = itertools.count(1)


def change(
    type_: str, insz: str, effective: dt.date, data: dict[str, Any], source: str = OCMW_GENT
) -> Change:
    """One change as a source publishes it, with a fresh change id."""
    return CHANGE_ADAPTER.validate_python(
        {
            "change_id": f"c{next(_ids)}",
            "source": source,
            "insz": insz,
            "effective": effective,
            "type": type_,
            "data": data,
        }
    )


@pytest.fixture
def engine(fresh_db: Callable[[str], str]) -> Iterator[Engine]:
    """A migrated, empty rights database on this backend."""
    url = fresh_db("rights")
    upgrade(url, "rights")
    eng = make_engine(url)
    yield eng
    eng.dispose()
