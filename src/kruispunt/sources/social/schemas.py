"""Wire formats of the social sources beyond the shared envelope (:mod:`kruispunt.sources.common`).

Request bodies of the handlers (the ``request`` of the envelope, the same JSON Schemas as the hub's
catalogue): :class:`RecordsRequest` (optional ``period``), :class:`AttestationRequest` (optional ``on``),
:class:`EmptyRequest`, :class:`DeclarationRequest` (a declaration received, with its id, risk date and proof).
Opening and closing a file: :class:`FileIn`, :class:`CloseIn`, :class:`FileOut`; a file addressed by a key:
:class:`KeyedFileIn` (open or amend), :class:`CancelIn`. A member telling its managing institution its span
on a person: :class:`MemberSpanIn`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

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


class DeclarationRequest(BaseModel):
    """Body of a declaration message type: the declaration itself (its other top-level keys are the
    attributes of the file it becomes), its id (the file's key), the day the risk starts (the file's start)
    and the sender's proof that the person is who it says (for the persons directory)."""

    model_config = ConfigDict(extra="allow")

    declaration_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$", description="the sender's id of the declaration"
    )
    risk_date: date
    proof: Proof


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


class KeyedFileIn(BaseModel):
    """``PUT /files/{kind}/{key}``: the file as it must be — opened when the key is new, amended otherwise."""

    model_config = ConfigDict(extra="forbid")

    insz: Insz
    start: date
    end: date | None = None
    attrs: dict[str, Any] = Field(default_factory=dict, description="the kind's attributes (no floats)")
    member: Kbo | None = Field(
        default=None, description="the holding institution, when the service answers for several"
    )
    proof: Proof = Field(description="proof that the institution knows the person (checked by the hub)")

    @model_validator(mode="after")
    def _ordered(self) -> KeyedFileIn:
        if self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


class CancelIn(BaseModel):
    """``POST /files/{kind}/{key}/cancel``: remove the file (a Dimona Cancel)."""

    model_config = ConfigDict(extra="forbid")

    proof: Proof
    member: Kbo | None = Field(
        default=None, description="the holding institution, when the service answers for several"
    )


class FileOut(BaseModel):
    id: int
    insz: str
    kind: str
    member: str
    capacity: int
    start: date
    end: date | None
    attrs: dict[str, Any]
    key: str | None = None


class FileReply(BaseModel):
    file: FileOut
    directory: dict[str, Any] | None = Field(
        description="what the hub answered (REGISTER / UNREGISTER), or null when it was not needed"
    )


class KeyedFileReply(FileReply):
    change: Literal["created", "amended", "unchanged", "cancelled"] = Field(
        description="what this call did; a repeated delivery is `unchanged` (a repeated cancel `cancelled`)"
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
