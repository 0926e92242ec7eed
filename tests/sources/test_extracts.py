"""The sources' quarterly extracts for the data warehouse (``POST /warehouse/extract/{dataset}``).

The National Register's extract from its database must hold the same rows as the extract built straight
from the synthetic nation it was loaded with: the benchmark and the running network then measure the same
thing. A bad quarter is refused with a clear error.
"""

from __future__ import annotations

import pyarrow as pa
from fastapi.testclient import TestClient

from kruispunt.simulate import PopulationBatch
from kruispunt.sources.bis_register.api import create_app as create_bis
from kruispunt.sources.extracts import read_arrow
from kruispunt.sources.national_register.api import create_app as create_nr
from kruispunt.warehouse import extract
from kruispunt.warehouse.schemas import RAW_PERSONS

QUARTER = "2024Q4"


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(tuple(r.values()) for r in table.to_pylist())


def test_the_registers_extract_equals_the_nations(
    nr_url: str, bis_url: str, population: PopulationBatch
) -> None:
    expected = extract.persons_of_batch(population, QUARTER)
    with TestClient(create_nr(nr_url)) as nr, TestClient(create_bis(bis_url)) as bis:
        from_nr = nr.post("/warehouse/extract/persons", json={"quarter": QUARTER})
        from_bis = bis.post("/warehouse/extract/persons", json={"quarter": QUARTER})
    assert from_nr.status_code == from_bis.status_code == 200
    residents, others = read_arrow(from_nr.content), read_arrow(from_bis.content)
    assert residents.schema == others.schema == RAW_PERSONS
    is_bis = dict(zip(population.insz.tolist(), population.is_bis.tolist(), strict=True))
    want_nr = expected.filter(pa.array([not is_bis[i] for i in expected["insz"].to_pylist()]))
    want_bis = expected.filter(pa.array([is_bis[i] for i in expected["insz"].to_pylist()]))
    assert _rows(residents) == _rows(want_nr)
    # the bis register holds no household; the rest is the same
    assert _rows(others.drop_columns(["household", "relationship"])) == _rows(
        want_bis.drop_columns(["household", "relationship"])
    )
    assert residents.num_rows > 1000


def test_a_bad_quarter_is_refused(nr_url: str) -> None:
    with TestClient(create_nr(nr_url)) as nr:
        for body in ({"quarter": "2024Q5"}, {"quarter": "24Q1"}, {}, {"quarter": "2024Q1", "x": 1}):
            response = nr.post("/warehouse/extract/persons", json=body)
            assert response.status_code == 422, body
            assert "quarter" in response.text or "x" in response.text


def test_a_quarter_of_year_zero_is_refused_not_a_server_error(nr_url: str) -> None:
    """Found by the OpenAPI fuzzing: ``0000Q1`` matches the pattern but there is no year 0 (it was a 500)."""
    with TestClient(create_nr(nr_url)) as nr:
        response = nr.post("/warehouse/extract/persons", json={"quarter": "0000Q1"})
    assert response.status_code == 422
    assert "year 0" in response.json()["error"]["message"]


def test_the_last_quarter_of_year_9999_has_bounds() -> None:
    assert extract.quarter_bounds("9999Q4")[1].isoformat() == "9999-12-31"
