"""Wire formats of the network API (persons directory and the read-only reference data)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

IncompleteDate = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}-(0[0-9]|1[0-2])-([0-2][0-9]|3[01])$"),
    Field(description="YYYY-MM-DD; an unknown month or day is 00 (YYYY-MM-00, YYYY-00-00)"),
]
Kbo = Annotated[
    str, StringConstraints(pattern=r"^[01][0-9]{9}$"), Field(description="KBO/BCE number, 10 digits")
]
Insz = Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$"), Field(description="INSZ, 11 digits")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonData(_Wire):
    last_name: Name
    first_name: Name | None = None
    birth_date: IncompleteDate


class Proof(_Wire):
    """ManageAccess ``ProofOfAuthentication``: at least one of the three."""

    sis_card_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None = None
    identity_card_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")] | None = None
    person_data: PersonData | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Proof:
        if self.sis_card_number is None and self.identity_card_number is None and self.person_data is None:
            raise ValueError("give at least one of sis_card_number, identity_card_number, person_data")
        return self


class ProofRequest(_Wire):
    """Body of ``POST {source}/persons/verify`` (docs/architecture.md)."""

    insz: Insz
    sis_card_number: str | None = None
    identity_card_number: str | None = None
    person_data: PersonData | None = None

    @classmethod
    def of(cls, insz: str, proof: Proof) -> ProofRequest:
        return cls(
            insz=insz,
            sis_card_number=proof.sis_card_number,
            identity_card_number=proof.identity_card_number,
            person_data=proof.person_data,
        )


class ProofResult(BaseModel):
    """Reply of ``POST {source}/persons/verify``."""

    match: bool
    reason: str | None = None


class Period(_Wire):
    start: dt.date
    end: dt.date | None = Field(default=None, description="inclusive; null = open-ended")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end is not None and self.end < self.start:
            raise ValueError("period end is before its start")
        return self


class RegisterRequest(_Wire):
    institution: Kbo = Field(description="the acting institution")
    insz: Insz
    capacity: int = Field(ge=0, le=999)
    period: Period
    phase: int | None = Field(default=None, ge=0, le=999)
    proof: Proof


class UnregisterRequest(_Wire):
    institution: Kbo
    insz: Insz
    capacity: int = Field(ge=0, le=999)
    period: Period = Field(
        description="end (or start when no end) = the last day the institution knows the person"
    )
    proof: Proof


class ListRequest(_Wire):
    # ``register`` is a classmethod name of pydantic's metaclass: the field is ``query_register`` in Python
    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)

    institution: Kbo
    insz: Insz
    sector: int | None = Field(default=None, ge=0, le=999)
    query_register: Literal["PRIMARY", "SECONDARY", "ALL"] = Field(default="ALL", alias="register")
    on: dt.date | None = Field(default=None, description="only lines active on this date")


class LineOut(BaseModel):
    """One inscription. ``institution`` is shown only on the acting institution's own lines."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    institution: str | None
    sector: int
    institution_type: int
    capacity: int
    phase: int | None
    period: Period
    register_: Literal["PRIMARY", "SECONDARY"] = Field(alias="register")
    last_change: dt.datetime


class RegisterResponse(BaseModel):
    action: Literal["REGISTER"] = "REGISTER"
    insz: str
    created: bool
    line: LineOut
    overlapping: list[LineOut]


class UnregisterResponse(BaseModel):
    action: Literal["UNREGISTER"] = "UNREGISTER"
    insz: str
    closed: list[LineOut]


class ListResponse(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    action: Literal["LIST"] = "LIST"
    insz: str
    register_: Literal["PRIMARY", "SECONDARY", "ALL"] = Field(alias="register")
    lines: list[LineOut]


class SectorOut(BaseModel):
    code: int
    institution_type: int
    short_name: str
    short_name_fr: str
    name_nl: str
    name_fr: str


class CapacityOut(BaseModel):
    sector: int | None = Field(description="null = valid in every sector")
    code: int
    label_fr: str
    label_nl: str
    label_de: str | None


class InstitutionOut(BaseModel):
    kbo: str
    name: str
    sector: int
    institution_type: int
    service: str | None


class ProviderOut(BaseModel):
    institution: str
    knows: str


class MessageTypeOut(BaseModel):
    name: str
    version: str
    title: str
    description: str
    person: str
    providers: list[ProviderOut]
    request_schema: dict[str, Any]
    reply_fields: list[str]
    soap: dict[str, str] | None
