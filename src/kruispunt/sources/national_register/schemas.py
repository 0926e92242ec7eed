"""Wire formats of the National Register beyond the shared ones in :mod:`kruispunt.sources.common`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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


# -------------------------------------------------------------------------- recording events (writes)


def _not_in_future(value: date) -> date:
    if value > date.today():
        raise ValueError("the register records what happened: the date lies in the future")
    if value.year < 1900:
        raise ValueError("the date lies before 1900")
    return value


EventDate = Annotated[date, AfterValidator(_not_in_future)]
Relationship = Literal["head", "spouse", "partner", "child", "other"]


class AddressIn(BaseModel):
    """A main residence in Belgium, as the network carries it (``address.changed``)."""

    model_config = ConfigDict(extra="forbid")

    street: str = Field(min_length=1, max_length=200)
    house_number: str = Field(min_length=1, max_length=16)
    postal_code: str = Field(pattern=r"^[0-9A-Z]{4,10}$")
    municipality: str = Field(min_length=1, max_length=100)
    nis_code: int | None = Field(default=None, ge=10000, le=99999, description="NIS code of the municipality")
    country: str = Field(default="BE", pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class MoveIn(BaseModel):
    """``POST /persons/{insz}/moves``: the person's main residence is ``address`` from ``date`` on."""

    model_config = ConfigDict(extra="forbid")

    date: EventDate
    address: AddressIn


class HouseholdMoveIn(BaseModel):
    """``POST /persons/{insz}/household``: from ``date`` on the person belongs to household ``household_id``
    (null: a new household of their own, with the person as its head), leaving the one they were in."""

    model_config = ConfigDict(extra="forbid")

    date: EventDate
    household_id: int | None = Field(default=None, ge=0, description="null: a new household of one")
    relationship: Relationship | None = Field(
        default=None, description="to the head of the household joined (required when joining one)"
    )

    @model_validator(mode="after")
    def _relationship(self) -> HouseholdMoveIn:
        if self.household_id is None and self.relationship not in (None, "head"):
            raise ValueError("the person heads a new household of their own: relationship must be head")
        if self.household_id is not None and self.relationship is None:
            raise ValueError("give the relationship to the head of the household joined")
        return self


class DeathIn(BaseModel):
    """``POST /persons/{insz}/death``: the person died on ``death_date``."""

    model_config = ConfigDict(extra="forbid")

    death_date: EventDate
