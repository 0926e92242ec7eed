"""What the hub hands to the log (:class:`AuditRecord`) and what the log shows (:class:`Consultation`, …).

Why a plain frozen dataclass for the record: it is built once per exchange on the hub's hot path, so it
must cost next to nothing; the writer checks its types when it is appended (see
:meth:`kruispunt.audit.service.AuditWriter.append`). The read side uses pydantic, because it is an API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Outcome(StrEnum):
    """The outcome statuses the hub logs (other upper-case codes are accepted too)."""

    DATA_FOUND = "DATA_FOUND"
    NO_DATA_FOUND = "NO_DATA_FOUND"
    REFUSED = "REFUSED"
    ERROR = "ERROR"


class Channel(StrEnum):
    """How the exchange reached the hub."""

    REST = "rest"
    SOAP = "soap"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One exchange as the hub hands it to the log, allowed or refused.

    ``time`` must be timezone-aware (it is stored in UTC, to the microsecond). ``destinations`` are the KBO
    numbers of the institutions the request was forwarded to (empty when nothing was forwarded).
    ``person`` is the INSZ concerned, or None (a search by name, or an unusable number).
    """

    ticket: str
    time: datetime
    channel: str
    outcome: str
    message_type: str | None = None
    version: str | None = None
    requester: str | None = None
    requester_sector: int | None = None
    requester_type: int | None = None
    user: str | None = None
    destinations: tuple[str, ...] = ()
    person: str | None = None
    capacity: int | None = None
    deliberation: str | None = None
    legal_context: str | None = None
    reason_code: str | None = None
    customer_ticket: str | None = None


class InstitutionRef(BaseModel):
    """An institution as the citizen sees it: KBO number and, when known, its name."""

    model_config = ConfigDict(frozen=True)

    kbo: str
    name: str | None = None
    sector: int | None = None
    institution_type: int | None = None


class Consultation(BaseModel):
    """One "who consulted my data" line: who asked, when, what, of whom, under which deliberation."""

    model_config = ConfigDict(frozen=True)

    ticket: str
    time: datetime = Field(description="When the hub received the request (UTC).")
    message_type: str | None
    version: str | None
    requester: InstitutionRef | None
    user: str | None = Field(description="User or application id of the requester.")
    destinations: list[InstitutionRef] = Field(description="Institutions the request was forwarded to.")
    capacity: int | None
    deliberation: str | None
    legal_context: str | None
    outcome: str
    chain: int | None = Field(default=None, description="The entry's log chain.")
    seq: int | None = Field(default=None, description="The entry's position in its chain, from 1.")
    entry_hash: str | None = Field(default=None, description="The entry's chain hash (its Merkle leaf data).")
    proof: dict[str, Any] | None = Field(
        default=None,
        description="Inclusion proof of the entry in the signed checkpoint of the answer (RFC 9162); null "
        "for an entry newer than that checkpoint.",
    )


class ConsultationList(BaseModel):
    """Answer of ``GET /audit/persons/{insz}/consultations``."""

    insz: str
    since: datetime
    until: datetime | None
    consultations: list[Consultation]
    checkpoint: str | None = Field(
        default=None,
        description="The latest signed checkpoint of the log (compact JWS), against which the proofs are "
        "given; check it with the network's keys (GET /hub/keys).",
    )


class AuditEntryView(BaseModel):
    """One stored entry, field for field (``destinations`` decoded): ``GET /audit/entries/{ticket}``."""

    model_config = ConfigDict(frozen=True)

    chain: int = Field(description="The log chain the entry belongs to (one per hub worker process).")
    seq: int = Field(description="Position of the entry in its chain, from 1.")
    ticket: str
    customer_ticket: str | None
    time: datetime
    channel: str
    message_type: str | None
    version: str | None
    requester: str | None
    requester_sector: int | None
    requester_type: int | None
    user: str | None
    destinations: list[str]
    person: str | None
    capacity: int | None
    deliberation: str | None
    legal_context: str | None
    outcome: str
    reason_code: str | None
    prev_hash: str
    entry_hash: str
