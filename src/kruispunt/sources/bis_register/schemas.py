"""Wire formats of the bis register beyond the shared ones in :mod:`kruispunt.sources.common`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from kruispunt.sources.common import IncompleteDate, Insz, parse_incomplete_date


class AddressIn(BaseModel):
    """Address of a person asking for a bis number (usually abroad)."""

    model_config = ConfigDict(extra="forbid")

    street: str = Field(min_length=1, max_length=200)
    house_number: str = Field(min_length=1, max_length=20)
    postal_code: str = Field(min_length=1, max_length=12)
    municipality: str = Field(min_length=1, max_length=100)
    nis_code: int | None = Field(default=None, ge=1000, le=99999, description="Belgian municipality, if any")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class IssueBisRequest(BaseModel):
    """``POST /persons``: register a person without a national-register number and give them a bis number."""

    model_config = ConfigDict(extra="forbid")

    last_name: str = Field(min_length=1, max_length=100)
    first_names: str = Field(min_length=1, max_length=150)
    birth_date: IncompleteDate = Field(description="YYYY-MM-DD, YYYY-MM-00 or YYYY-00-00")
    sex: Literal["M", "F"] | None = Field(
        default=None, description="null when unknown (number gets month + 20)"
    )
    nationality: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    civil_state: Literal[10, 20, 25, 26, 30, 40, 41, 50, 51, 60] | None = None
    address: AddressIn

    @field_validator("birth_date")
    @classmethod
    def _encodable(cls, value: str) -> str:
        year, month, day = parse_incomplete_date(value)
        if year < 1900:
            raise ValueError("an INSZ can only encode births from 1900 on")
        today = date.today()
        if year > today.year or (month and day and date(year, month, day) > today):
            raise ValueError("birth date lies in the future")
        return value


class IssueBisReply(BaseModel):
    insz: str = Field(description="The new bis number")


def _not_in_future(value: date) -> date:
    if value > date.today():
        raise ValueError("the register records what happened: the date lies in the future")
    return value


class ReplaceIn(BaseModel):
    """``POST /persons/{insz}/replace``: from ``date`` on the bis number is replaced by ``replaced_by`` (the
    person's national-register number, or the bis number a duplicate is merged into)."""

    model_config = ConfigDict(extra="forbid")

    replaced_by: Insz
    date: Annotated[date, AfterValidator(_not_in_future)]


class CancelIn(BaseModel):
    """``POST /persons/{insz}/cancel``: the bis number was given in error and no longer stands for anyone."""

    model_config = ConfigDict(extra="forbid")

    date: Annotated[date, AfterValidator(_not_in_future)]
