"""Quarterly extracts for the data warehouse: ``POST /hub/extracts`` (deliberation 24/014).

The warehouse asks the hub for one dataset of one quarter. The hub identifies the caller, checks the
deliberation (requester, legal context, message type ``dwh_extract_<dataset>``, its providers), asks every
provider's ``/warehouse/extract/{dataset}``, keeps only the columns the deliberation allows (the others are
emptied), has every INSZ replaced by its code at the trusted third party (project ``dwh``), logs the exchange
and answers an Arrow IPC stream. The warehouse never receives an INSZ; a household number is replaced by
``h`` + the code of its member with the smallest INSZ, so no key other than the TTP's is needed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from kruispunt.coding import arrow as arrow_codes
from kruispunt.coding.api import codes_of
from kruispunt.hub import errors
from kruispunt.hub.errors import Refusal
from kruispunt.hub.service import Consultation, Hub, Outcome
from kruispunt.network.catalogue import FieldFilter
from kruispunt.network.registry import Institution, UnknownInstitution
from kruispunt.sources.extracts import read_arrow
from kruispunt.warehouse.schemas import PROJECT, RAW_EMPLOYERS, RAW_FILES, RAW_PERSONS

EXTRACT_TIMEOUT_S = 600.0
"""How long a source may take to build a quarter's extract, and the TTP to code it."""

CODE_BATCH = 50_000
"""INSZ per call to the trusted third party."""

SCHEMAS = {"persons": RAW_PERSONS, "files": RAW_FILES, "employers": RAW_EMPLOYERS}


class ExtractRequest(BaseModel):
    """Who asks (CBSS header fields), under which legal context, for which dataset and quarter."""

    model_config = ConfigDict(extra="forbid")
    cbe_number: str = Field(pattern=r"^[01][0-9]{9}$")
    sector: int = Field(ge=0, le=999)
    institution_type: int = Field(default=0, ge=0, le=999)
    legal_context: str = Field(min_length=1, max_length=64)
    dataset: str = Field(pattern="^(persons|files|employers)$")
    quarter: str = Field(pattern=r"^\d{4}Q[1-4]$")


@dataclass
class ExtractResult:
    outcome: Outcome
    table: pa.Table | None = None


class Coder:
    """The trusted third party's ``POST /projects/{project}/codes``, in batches, each signed with ``auth``
    (the KSZ's identity: the TTP refuses an unsigned caller)."""

    def __init__(self, url: str | None, auth: httpx.Auth | None = None) -> None:
        self.url = url.rstrip("/") if url else None
        self.auth = auth

    async def code(self, client: httpx.AsyncClient, inszs: list[str]) -> list[str]:
        if self.url is None:
            raise Refusal(errors.PROVIDER_UNAVAILABLE, "no trusted third party is configured (coding_url)")
        codes: list[str] = []
        for i in range(0, len(inszs), CODE_BATCH):
            chunk = inszs[i : i + CODE_BATCH]
            try:
                response = await client.post(
                    f"{self.url}/projects/{PROJECT}/codes",
                    json={"inszs": chunk},
                    auth=self.auth or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.HTTPError as exc:
                raise Refusal(
                    errors.PROVIDER_UNAVAILABLE, f"trusted third party unreachable: {type(exc).__name__}"
                ) from None
            if response.status_code != 200:
                raise Refusal(
                    errors.PROVIDER_BAD_REPLY, f"trusted third party answered HTTP {response.status_code}"
                )
            got = codes_of(response)
            if got is None or len(got) != len(chunk):
                raise Refusal(errors.PROVIDER_BAD_REPLY, "trusted third party sent a bad list of codes")
            codes.extend(str(c) for c in got)
        return codes


def _allowed_columns(fields: FieldFilter, schema: pa.Schema) -> set[str]:
    """The columns whose ``rows[].<column>`` path the deliberation allows."""
    probe = {"rows": [dict.fromkeys(schema.names, 0)]}
    kept, _ = fields.apply(probe)
    rows = kept.get("rows") or [{}]
    return set(rows[0])


def _restrict(table: pa.Table, allowed: set[str]) -> pa.Table:
    """Empty every column the deliberation does not allow (the schema stays the same)."""
    for i, f in enumerate(table.schema):
        if f.name not in allowed:
            table = table.set_column(i, f.with_nullable(True), pa.nulls(table.num_rows, f.type))
    return table


async def _code_table(client: httpx.AsyncClient, coder: Coder, table: pa.Table) -> pa.Table:
    """Every INSZ (and household number) replaced by its code at the trusted third party."""
    inszs = arrow_codes.distinct_inszs(table)
    # even with no INSZ to code (all emptied by the deliberation, or none): the household numbers must go
    # and the columns must carry their coded names
    codes = await coder.code(client, inszs) if inszs else []
    return arrow_codes.apply_codes(table, inszs, codes)


async def extract(hub: Hub, coder: Coder, request: ExtractRequest) -> ExtractResult:
    """Run one extract through the pipeline; never raises for bad input (a refusal is logged too)."""
    received = datetime.now(UTC)
    message_type = f"dwh_extract_{request.dataset}"
    c = Consultation(
        channel="rest",
        cbe_number=request.cbe_number,
        sector=request.sector,
        institution_type=request.institution_type,
        legal_context=request.legal_context,
        message_type=message_type,
        version="1",
        body={"quarter": request.quarter},
    )
    try:
        requester = hub.registry.identify(
            cbe_number=request.cbe_number, sector=request.sector, institution_type=request.institution_type
        )
    except UnknownInstitution as exc:
        return ExtractResult(
            await hub.refuse(c, Refusal(errors.UNKNOWN_CUSTOMER, exc.reason), received=received)
        )
    try:
        table, deliberation, destinations = await _run(hub, coder, request, requester, message_type)
    except Refusal as refusal:
        return ExtractResult(await hub.refuse(c, refusal, received=received, requester=requester))
    logged = await hub.record(
        c,
        received=received,
        requester=requester,
        status="DATA_FOUND" if table.num_rows else "NO_DATA_FOUND",
        deliberation=deliberation,
        destinations=tuple(destinations),
    )
    return ExtractResult(logged, table if logged.refusal is None else None)


async def _run(
    hub: Hub, coder: Coder, request: ExtractRequest, requester: Institution, message_type: str
) -> tuple[pa.Table, str, list[str]]:
    catalogued = hub.catalogue.get(message_type, "1")
    if catalogued is None:
        raise Refusal(errors.UNKNOWN_MESSAGE_TYPE, f"unknown message type {message_type!r} v1")
    decision = hub.deliberations.authorise(
        requester=requester,
        message_type=message_type,
        version="1",
        legal_context=request.legal_context,
        on=dt.date.today(),
    )
    deliberation = decision.deliberation
    if deliberation is None:
        raise Refusal(errors.NO_DELIBERATION, decision.diagnostic or errors.NO_DELIBERATION.text)
    schema = SCHEMAS[request.dataset]
    allowed = _allowed_columns(deliberation.field_filter(message_type), schema)
    endpoints: dict[str, str] = {}
    for provider in catalogued.providers:
        institution = hub.registry.institution(provider.institution)
        if institution is None or not deliberation.allows_provider(provider.institution):
            continue
        if not institution.endpoint:
            raise Refusal(errors.PROVIDER_UNAVAILABLE, f"{institution.name} has no endpoint")
        endpoints.setdefault(institution.endpoint.rstrip("/"), institution.kbo)
    parts = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(EXTRACT_TIMEOUT_S)) as client:
        for endpoint, kbo in endpoints.items():
            parts.append(await _fetch(client, endpoint, kbo, request, schema))
        table = pa.concat_tables(parts) if parts else schema.empty_table()
        table = _restrict(table, allowed)
        table = await _code_table(client, coder, table)
    return table, deliberation.id, list(endpoints.values())


async def _fetch(
    client: httpx.AsyncClient, endpoint: str, kbo: str, request: ExtractRequest, schema: pa.Schema
) -> pa.Table:
    url = f"{endpoint}/warehouse/extract/{request.dataset}"
    try:
        response = await client.post(url, json={"quarter": request.quarter})
    except httpx.TimeoutException:
        raise Refusal(errors.PROVIDER_TIMEOUT, f"{kbo} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise Refusal(errors.PROVIDER_UNAVAILABLE, f"{kbo} unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise Refusal(errors.PROVIDER_BAD_REPLY, f"{kbo} answered HTTP {response.status_code}")
    try:
        table = read_arrow(response.content)
        return table.cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        # the type only: Arrow's messages quote the offending values, which may be INSZ, and a refusal's
        # text is logged and answered to the warehouse
        raise Refusal(errors.PROVIDER_BAD_REPLY, f"{kbo} sent a bad extract ({type(exc).__name__})") from None
