"""Wire formats of the National Register beyond the shared ones in :mod:`kruispunt.sources.common`."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kruispunt.sources.common import PersonOut


class EmptyRequest(BaseModel):
    """Body of ``family_composition`` and ``address_history`` v1: ``{}`` (the person is in the envelope)."""

    model_config = ConfigDict(extra="forbid")


class MemberOut(BaseModel):
    insz: str
    last_name: str
    first_names: str
    birth_date: str
    sex: Literal["M", "F"] | None
    relationship: str = Field(description="head, spouse, partner, child or other (relative to the head)")


class FamilyCompositionData(BaseModel):
    household_id: int
    members: list[MemberOut]


class AddressPeriodOut(BaseModel):
    street: str
    house_number: str
    postal_code: str
    municipality: str
    nis_code: int | None
    start: date
    end: date | None = Field(description="null for the current address")


class AddressHistoryData(BaseModel):
    addresses: list[AddressPeriodOut]


class SocialInquiryData(BaseModel):
    """The National Register's part of ``social_inquiry`` v1: the person and the household they live in
    (the other sources add employment, unemployment and health-insurance parts)."""

    person: PersonOut
    household: list[MemberOut]
