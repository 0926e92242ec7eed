"""Wire formats of the social sources beyond the shared envelope (:mod:`kruispunt.sources.common`).

Request bodies of the three handlers (the ``request`` of the envelope, the same JSON Schemas as the hub's
catalogue): :class:`RecordsRequest` (optional ``period``), :class:`AttestationRequest` (optional ``on``),
:class:`EmptyRequest`. Opening and closing a file: :class:`FileIn`, :class:`CloseIn`, :class:`FileOut`. A
member telling its managing institution its span on a person: :class:`MemberSpanIn`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from kruispunt.network.schemas import Proof
from kruispunt.sources.common import Insz

Kbo = Annotated[
    str, StringConstraints(pattern=r"^[01][0-9]{9}$"), Field(description="KBO/BCE number, 10 digits")
]


class PeriodIn(BaseModel):
    """Both bounds inclusive; no end = open (in a request: up to today)."""

    model_config = ConfigDict(extra="forbid")

    start: date
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PeriodIn:
        if self.end is not None and self.end < self.start:
            raise ValueError("period end is before its start")
        return self


class RecordsRequest(BaseModel):
    """Body of a records message type: optionally only the files overlapping ``period``."""

    model_config = ConfigDict(extra="forbid")

    period: PeriodIn | None = None


class AttestationRequest(BaseModel):
    """Body of an attestation message type: the day the status must be in force (default today)."""

    model_config = ConfigDict(extra="forbid")

    on: date | None = None


class EmptyRequest(BaseModel):
    """Body of ``list_of_attestations``: ``{}``."""

    model_config = ConfigDict(extra="forbid")


class FileIn(BaseModel):
    """``POST /files``: open a file on a person, and integrate the person in the persons directory."""

    model_config = ConfigDict(extra="forbid")

    insz: Insz
    kind: str = Field(min_length=1, max_length=64)
    start: date
    end: date | None = None
    attrs: dict[str, Any] = Field(default_factory=dict, description="the kind's attributes (no floats)")
    member: Kbo | None = Field(
        default=None, description="the holding institution, when the service answers for several"
    )
    proof: Proof = Field(description="proof that the institution knows the person (checked by the hub)")

    @model_validator(mode="after")
    def _ordered(self) -> FileIn:
        if self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


class CloseIn(BaseModel):
    """``POST /files/{id}/close``: the last day of the file."""

    model_config = ConfigDict(extra="forbid")

    end: date
    proof: Proof


class FileOut(BaseModel):
    id: int
    insz: str
    kind: str
    member: str
    capacity: int
    start: date
    end: date | None
    attrs: dict[str, Any]


class FileReply(BaseModel):
    file: FileOut
    directory: dict[str, Any] | None = Field(
        description="what the hub answered (REGISTER / UNREGISTER), or null when it was not needed"
    )


class MemberSpanIn(BaseModel):
    """``POST /members/lines`` (member → managing institution): the span of the member's files on a person;
    null when the member no longer holds any."""

    model_config = ConfigDict(extra="forbid")

    member: Kbo
    insz: Insz
    span: PeriodIn | None


class MemberSpanOut(BaseModel):
    member: str
    insz: str
    span: PeriodIn | None
