"""The hub → source contract shared by every authentic source (docs/architecture.md), and name helpers.

* ``ConsultRequest[Body]`` / ``ConsultReply[Data]``: the envelope of ``POST /consult/{message_type}``;
  the hub uses ``ConsultRequest[dict[str, Any]]``, a source the typed body of each message type.
* ``IdentifyPersonRequest`` / ``IdentifyPersonData`` / ``PersonOut``: ``identify_person`` v1, served by the
  National Register and the bis register.
* ``VerifyRequest`` / ``VerifyReply``: ``POST /persons/verify`` (ManageAccess ``ProofOfAuthentication``).
* :func:`phonetic_key`, :func:`normalise_name`: how last names are compared.

Why metaphone for the phonetic key (``jellyfish.metaphone``) rather than NYSIIS or Soundex: Belgian spelling
variants differ mostly in vowels and doubled letters (Peeters/Pieters/Peters, Claes/Claeys, Maes/Maas,
Goossens/Gossens, Vandenberghe/Van den Berghe, Dupont/Dupond, Jacobs/Jakobs); metaphone drops non-initial
vowels and maps c/k/q, d/t, ph/f alike, so all of these collide, while Soundex truncates to four characters
(too many false hits on a 12-million register) and NYSIIS keeps vowel traces (Claes ≠ Claeys, Lambert ≠
Lambret). On top of metaphone we collapse repeated letters (Leclercq = Leclerc) and drop a final S, which in
Dutch patronymics and French spelling is often optional or silent (Janssen = Janssens, Dubois = Duboi).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Generic, Literal, TypeVar

import jellyfish
from fastapi import HTTPException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from kruispunt.ids import is_valid_insz as _ids_is_valid_insz

# ------------------------------------------------------------------------------------------ identifiers


def is_valid_insz(value: str) -> bool:
    """An 11-digit national-register or bis number with valid check digits (no separators)."""
    return len(value) == 11 and value.isdigit() and _ids_is_valid_insz(value)


def _insz(value: str) -> str:
    if not is_valid_insz(value):
        raise ValueError(
            "not a valid INSZ (11 digits, national-register or bis number with valid check digits)"
        )
    return value


Insz = Annotated[str, AfterValidator(_insz)]

_INCOMPLETE_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_incomplete_date(value: str) -> tuple[int, int, int]:
    """``YYYY-MM-DD`` / ``YYYY-MM-00`` / ``YYYY-00-00`` → (year, month, day) with 0 for unknown parts."""
    match = _INCOMPLETE_DATE.match(value)
    if not match:
        raise ValueError("expected YYYY-MM-DD, YYYY-MM-00 or YYYY-00-00")
    year, month, day = (int(x) for x in match.groups())
    if year < 1800 or month > 12 or (month == 0 and day != 0):
        raise ValueError("impossible incomplete date")
    if day and day > calendar.monthrange(year, month)[1]:
        raise ValueError("day does not exist in that month")
    return year, month, day


def _incomplete_date(value: str) -> str:
    parse_incomplete_date(value)
    return value


IncompleteDate = Annotated[str, AfterValidator(_incomplete_date)]


def date_bounds(year: int, month: int, day: int) -> tuple[date, date]:
    """The first and last day an incomplete date can stand for."""
    if month == 0:
        return date(year, 1, 1), date(year, 12, 31)
    if day == 0:
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    return date(year, month, day), date(year, month, day)


def _add_years(day: date, years: int) -> date:
    year = min(max(day.year + years, 1), 9999)
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def birth_window(birth_date: str, tolerance_years: int) -> tuple[date, date]:
    """Dates a searched birth date covers: its own range widened by ``tolerance_years`` on both sides."""
    low, high = date_bounds(*parse_incomplete_date(birth_date))
    return _add_years(low, -tolerance_years), _add_years(high, tolerance_years)


def dates_compatible(given: str, stored: str) -> bool:
    """Every part known on both sides is equal (proof of knowledge with an incomplete date)."""
    g, s = parse_incomplete_date(given), parse_incomplete_date(stored)
    return all(a == b for a, b in zip(g, s, strict=True) if a and b)


# ------------------------------------------------------------------------------------------------ names

_TRANSLIT = str.maketrans(
    {
        "ı": "i",
        "ł": "l",
        "Ł": "l",
        "ø": "o",
        "Ø": "o",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ß": "ss",
        "đ": "d",
        "Đ": "d",
    }
)
_NOT_LETTER = re.compile(r"[^a-z]")


@lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """Lower-case ASCII letters only: accents, case, spaces, hyphens and apostrophes do not count."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_TRANSLIT))
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return _NOT_LETTER.sub("", ascii_only)


@lru_cache(maxsize=65536)
def phonetic_key(name: str) -> str:
    """Phonetic key of a last name: metaphone of the normalised name, repeats collapsed, final S dropped."""
    code = jellyfish.metaphone(normalise_name(name))
    collapsed = "".join(ch for i, ch in enumerate(code) if i == 0 or ch != code[i - 1])
    if len(collapsed) > 1 and collapsed.endswith("S"):
        collapsed = collapsed[:-1]
    return collapsed[:32]


def first_name_matches(given: str, first_names: str) -> bool:
    """The given first name is one of the person's first names (or all of them), phonetically."""
    wanted = phonetic_key(given)
    names = first_names.split()
    return bool(wanted) and (
        wanted == phonetic_key(first_names) or any(phonetic_key(n) == wanted for n in names)
    )


# ------------------------------------------------------------------------------------------- envelope

BodyT = TypeVar("BodyT")
DataT = TypeVar("DataT")


class Requester(BaseModel):
    """The institution the hub consults for (already authorised by the hub)."""

    model_config = ConfigDict(extra="ignore")

    institution: str = Field(min_length=1, max_length=16, description="KBO/BCE number of the institution")
    sector: int = Field(ge=0, le=999)
    institution_type: int = Field(ge=0, le=999)


class ConsultRequest(BaseModel, Generic[BodyT]):
    """Body of ``POST /consult/{message_type}`` (hub → source)."""

    model_config = ConfigDict(extra="ignore")

    ticket: str = Field(min_length=1, max_length=64, description="The hub's ticket (UUID)")
    message_type: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=16)
    person: Insz | None = Field(default=None, description="INSZ the message is about, when there is one")
    request: BodyT
    requester: Requester
    provider: str | None = Field(
        default=None,
        pattern=r"^[01][0-9]{9}$",
        description="KBO of the institution the hub addressed (several institutions may share one service)",
    )


class ConsultReply(BaseModel, Generic[DataT]):
    """Reply of ``POST /consult/{message_type}``: ``data`` is null when nothing was found."""

    status: Literal["DATA_FOUND", "NO_DATA_FOUND"]
    data: DataT | None = None


# --------------------------------------------------------------------------------- identify_person v1


class AddressOut(BaseModel):
    street: str
    house_number: str
    postal_code: str
    municipality: str
    nis_code: int | None = Field(description="NIS/REFNIS code of the municipality; null abroad")


class PersonOut(BaseModel):
    insz: str
    last_name: str
    first_names: str
    birth_date: str = Field(description="YYYY-MM-DD, with 00 for an unknown month or day")
    sex: Literal["M", "F"] | None
    nationality: str | None = Field(description="ISO 3166-1 alpha-2")
    civil_state: int | None = Field(description="t_CivilStateCode (10 single, 20 married, 30 widowed …)")
    death_date: date | None
    address: AddressOut | None = Field(description="Current (or, for the deceased, last) main residence")


class IdentifyPersonRequest(BaseModel):
    """``identify_person`` v1: by INSZ (``insz``, or the envelope's ``person``) or by phonetic search."""

    model_config = ConfigDict(extra="forbid")

    insz: Insz | None = None
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: IncompleteDate | None = None
    sex: Literal["M", "F"] | None = None
    tolerance_years: int = Field(default=0, ge=0, le=10)
    maximum: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="after")
    def _search_needs_birth_date(self) -> IdentifyPersonRequest:
        if self.insz is None and self.last_name is not None and self.birth_date is None:
            raise ValueError("a phonetic search needs last_name and birth_date")
        if self.insz is None and self.last_name is None and (self.first_name or self.birth_date or self.sex):
            raise ValueError("a phonetic search needs last_name and birth_date")
        return self


class IdentifyPersonData(BaseModel):
    persons: list[PersonOut]


# ------------------------------------------------------------------------------------------ proofs


class PersonDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last_name: str = Field(min_length=1, max_length=100)
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: IncompleteDate


class VerifyRequest(BaseModel):
    """``POST /persons/verify``: at least one proof; the person is verified when one of them holds."""

    model_config = ConfigDict(extra="forbid")

    insz: Insz
    sis_card_number: str | None = Field(default=None, pattern=r"^\d{10}$")
    identity_card_number: str | None = Field(default=None, pattern=r"^\d{12}$")
    person_data: PersonDataIn | None = None

    @model_validator(mode="after")
    def _one_proof(self) -> VerifyRequest:
        if self.sis_card_number is None and self.identity_card_number is None and self.person_data is None:
            raise ValueError("give at least one of sis_card_number, identity_card_number, person_data")
        return self


class VerifyReply(BaseModel):
    match: bool
    reason: str | None = None


def error_detail(code: str, message: str, **details: Any) -> dict[str, Any]:
    """The ``detail`` of an HTTPException that the core error handler returns as the JSON body."""
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


class RecordedReply(BaseModel):
    """What a register answers to an event it recorded."""

    changes: list[str] = Field(
        description="The ids of the changes queued for the network (none when the event was recorded before)"
    )


class WriteRefused(Exception):
    """A write a source refuses (nothing of it is kept): HTTP ``status``, error ``code``, ``message``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def http(self) -> HTTPException:
        return HTTPException(
            status_code=self.status, detail=error_detail(self.code, self.message, **self.details)
        )
