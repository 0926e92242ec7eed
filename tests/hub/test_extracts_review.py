"""The hub's warehouse extracts (:mod:`kruispunt.hub.extracts`), piece by piece: a bad answer of the trusted
third party or of a source is a refusal (never a 500), a refusal's text quotes no value of the extract, and
an extract whose INSZ were all emptied still loses its household numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pyarrow as pa
import pytest

from kruispunt.hub import errors, extracts
from kruispunt.hub.errors import Refusal
from kruispunt.sources.extracts import arrow_bytes
from kruispunt.warehouse.schemas import CODED_PERSONS, RAW_PERSONS

INSZ = "85073003328"
REQUEST = extracts.ExtractRequest(
    cbe_number="0244640631", sector=25, legal_context="KSZ:DWH", dataset="persons", quarter="2024Q4"
)


def _client(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def _persons(insz: list[str | None], household: list[str | None]) -> pa.Table:
    n = len(insz)
    return pa.table(
        {
            "insz": pa.array(insz, pa.string()),
            "sex": ["F"] * n,
            "age": pa.array([40] * n, pa.int16()),
            "nationality": ["BE"] * n,
            "nis_code": pa.array([11002] * n, pa.int32()),
            "household": pa.array(household, pa.string()),
            "relationship": ["head"] * n,
        },
        schema=RAW_PERSONS.set(0, RAW_PERSONS.field("insz").with_nullable(True)),
    )


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>gateway timeout</html>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"codes": None}),
    ],
)
def test_a_ttp_answer_that_is_not_a_list_of_codes_is_a_refusal(reply: httpx.Response) -> None:
    async def run() -> None:
        async with _client(lambda request: reply) as client:
            await extracts.Coder("http://ttp").code(client, [INSZ])

    with pytest.raises(Refusal) as refused:
        asyncio.run(run())
    assert refused.value.reason == errors.PROVIDER_BAD_REPLY


def test_an_extract_that_does_not_fit_is_refused_without_quoting_its_values() -> None:
    """Arrow's cast error quotes the value it could not parse: here an INSZ in the age column."""
    bad = pa.table({name: pa.array([INSZ], pa.string()) for name in RAW_PERSONS.names})

    async def run() -> None:
        async with _client(lambda request: httpx.Response(200, content=arrow_bytes(bad))) as client:
            await extracts._fetch(client, "http://nr", "0123456789", REQUEST, RAW_PERSONS)

    with pytest.raises(Refusal) as refused:
        asyncio.run(run())
    assert refused.value.reason == errors.PROVIDER_BAD_REPLY
    assert INSZ not in str(refused.value)
    assert INSZ not in refused.value.diagnostic


def test_an_extract_without_any_insz_left_is_still_coded() -> None:
    """The deliberation may empty the ``insz`` column: the household numbers must not pass as they are."""
    table = _persons([None, None], ["HH-000123", "HH-000123"])

    def no_ttp_call(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing to code: the TTP is not called")

    async def run() -> pa.Table:
        async with _client(no_ttp_call) as client:
            return await extracts._code_table(client, extracts.Coder("http://ttp"), table)

    coded = asyncio.run(run())
    assert coded.column_names == CODED_PERSONS.names
    assert coded.column("household_id").to_pylist() == [None, None]
    assert "HH-000123" not in str(coded.to_pylist())
