"""Wire formats of change notifications: what a source publishes, what a recipient receives.

A **change** is one fact about one person that a source recorded: a status (a file of the source) opened,
amended, closed or cancelled; an address, household or death recorded by the National Register; an INSZ
replaced or cancelled by the register that gave it. The source names it with its own ``change_id`` (unique
per source: publishing it again is the same change, never a second one). The network adds the ``seq`` —
the order in which it received the changes — and delivers it to every subscriber as a :class:`Delivered`,
whose ``key`` (change, recipient) lets the recipient apply it exactly once.

``type`` decides the shape of ``data`` (checked here, so a malformed change is refused at the door):

=====================  ======================================================================================
``status.opened``      ``{kind, file_key, start, end?, attrs}`` — a file of ``kind`` (a kind of the source,
``status.amended``     e.g. ``leefloon``) now holds from ``start`` to ``end`` (open when absent)
``status.closed``      ``{kind, file_key, start, end}`` — the file ends on ``end``
``status.cancelled``   ``{kind, file_key}`` — the file never held
``address.changed``    ``{street, house_number, postal_code, municipality, nis_code?, country}``
``household.changed``  ``{household_id, members: [INSZ…], head?}`` — the household the person belongs to now
``person.died``        ``{death_date}``
``insz.replaced``      ``{replaced_by}`` — the INSZ is replaced by another (the person keeps their files)
``insz.cancelled``     ``{}``
=====================  ======================================================================================
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from kruispunt.ids import validate_enterprise_number, validate_insz

STATUS_TYPES = ("status.opened", "status.amended", "status.closed", "status.cancelled")
PERSON_TYPES = ("address.changed", "household.changed", "person.died", "insz.replaced", "insz.cancelled")
CHANGE_TYPES: tuple[str, ...] = (*STATUS_TYPES, *PERSON_TYPES)
"""Every change type, in the order the AsyncAPI document lists them."""

ChangeType = Literal[
    "status.opened",
    "status.amended",
    "status.closed",
    "status.cancelled",
    "address.changed",
    "household.changed",
    "person.died",
    "insz.replaced",
    "insz.cancelled",
]


def _insz(value: str) -> str:
    return validate_insz(value).number  # InvalidIdentifier is a ValueError: pydantic reports it


_kbo = lru_cache(maxsize=4096)(validate_enterprise_number)
"""Cached: a batch names a handful of institutions thousands of times."""


Insz = Annotated[str, Field(min_length=11, max_length=15), AfterValidator(_insz)]
Kbo = Annotated[str, Field(min_length=10, max_length=16), AfterValidator(_kbo)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatusData(_Strict):
    kind: Name = Field(description="The kind of file at the source (e.g. leefloon, igo, unemployment).")
    file_key: str = Field(min_length=1, max_length=64, description="The source's key of the file.")
    start: dt.date | None = None
    end: dt.date | None = Field(default=None, description="Absent or null: open-ended.")
    attrs: dict[str, Any] = Field(default_factory=dict, description="The file's attributes (kind-specific).")


class AddressData(_Strict):
    street: Text
    house_number: Annotated[str, Field(min_length=1, max_length=16)]
    postal_code: Annotated[str, Field(pattern=r"^[0-9A-Z]{4,10}$")]
    municipality: Text
    nis_code: int | None = Field(default=None, ge=10000, le=99999)
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "BE"


class HouseholdData(_Strict):
    household_id: int = Field(ge=0)
    members: list[Insz] = Field(min_length=1, max_length=64)
    head: Insz | None = None


class DeathData(_Strict):
    death_date: dt.date


class ReplacedData(_Strict):
    replaced_by: Insz


class EmptyData(_Strict):
    pass


class _ChangeBase(_Strict):
    change_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The source's id of the change: unique per source; publishing it again is a no-op.",
    )
    source: Kbo = Field(description="KBO of the institution that publishes the change.")
    insz: Insz
    effective: dt.date = Field(description="From when the change holds.")
    occurred_at: dt.datetime | None = Field(
        default=None, description="When the source recorded it (UTC); the time of receipt when absent."
    )


class StatusChange(_ChangeBase):
    type: Literal["status.opened", "status.amended", "status.closed", "status.cancelled"]
    data: StatusData


class AddressChange(_ChangeBase):
    type: Literal["address.changed"]
    data: AddressData


class HouseholdChange(_ChangeBase):
    type: Literal["household.changed"]
    data: HouseholdData


class DeathChange(_ChangeBase):
    type: Literal["person.died"]
    data: DeathData


class ReplacedChange(_ChangeBase):
    type: Literal["insz.replaced"]
    data: ReplacedData


class CancelledChange(_ChangeBase):
    type: Literal["insz.cancelled"]
    data: EmptyData = Field(default_factory=EmptyData)


Change = Annotated[
    StatusChange | AddressChange | HouseholdChange | DeathChange | ReplacedChange | CancelledChange,
    Field(discriminator="type"),
]
"""One change as a source publishes it (``POST /mutations/changes``)."""

CHANGE_ADAPTER: TypeAdapter[Change] = TypeAdapter(Change)


class ChangeBatch(_Strict):
    """What a source posts: one or more changes, each judged on its own."""

    changes: list[Change] = Field(min_length=1, max_length=10_000)


class Delivered(_Strict):
    """One change as a recipient receives it (feed, push body, NATS message)."""

    key: str = Field(description="Idempotency key of (change, recipient): apply a key once.")
    cursor: int = Field(description="Position in the recipient's feed: ask `after` it for what follows.")
    seq: int = Field(description="The network's order of the change (per person, later means newer).")
    recipient: str
    capacity: int | None = Field(description="The capacity in which the recipient knows the person.")
    deliberation: str | None = Field(description="The deliberation under which the change is sent.")
    change: Change
