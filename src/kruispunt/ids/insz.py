"""INSZ / NISS / SSIN: the social-security number of a person (national-register number or bis number).

Layout ``YYMMDD NNN CC``: birth date, day counter (odd = male, even = female), check digits
``97 - (first 9 digits mod 97)``; for births from 2000 on the check is computed over ``"2" + first 9 digits``,
so the check digits also encode the century (DOMAIN.md §4.1). Bis numbers add 20 to the month when the sex was
unknown at assignment and 40 when it was known.

Why not call ``stdnum.be.nn``/``bis`` directly: stdnum only tries the 2000s century when ``2000 + YY`` is not
after *today's* year, so its answer depends on the clock, and its exceptions do not say why a number is wrong.
This module follows the same rules as stdnum 2.2 otherwise (partial dates, fictitious ``000001`` dates,
"day > days in month" = day unknown); the tests cross-check it against stdnum for past dates.

Decisions where the sources are silent:

* No clock: the century is whatever the check digits say (1900–2099); a birth date in the future is accepted.
* Counters ``000`` and ``999`` are rejected for national-register *and* bis numbers (counters run 001–998;
  the CommonV3 regex forbids 000 for the national register only).
* A "day" above the days in the month (e.g. ``85073500107``) means "day unknown", as in newest stdnum; the
  impossible part of a date is the month (13–19, 33–39, 53–99 are rejected).
* Error detection: within one century mod 97 catches every single-digit error and every adjacent
  transposition. The century trick costs a little: changing the year's units digit by ±6, or swapping the
  two month digits or the two day digits, can yield a valid number *of the other century* (another birth
  year).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Literal

from kruispunt.ids._common import compact, mod97_check, require_digits
from kruispunt.ids.errors import InvalidIdentifier

InszKind = Literal["national_register", "bis"]
Sex = Literal["M", "F"]
BisMode = Literal["sex_unknown", "sex_known"]

_SEPARATORS = " .-"
_FICTITIOUS = frozenset({"000001", "002001", "004001"})  # birth date (even the year) unknown
_BIS_OFFSET: dict[BisMode | None, int] = {None: 0, "sex_unknown": 20, "sex_known": 40}


@dataclass(frozen=True, slots=True)
class InszInfo:
    """What an INSZ tells: kind, (partial) birth date and sex. ``birth_date`` is None unless fully known."""

    number: str
    kind: InszKind
    birth_date: date | None
    birth_year: int | None
    birth_month: int | None
    sex: Sex | None


def compact_insz(value: str) -> str:
    """Strip the usual separators (spaces, dots, dashes) without validating."""
    return compact(value, _SEPARATORS)


def insz_check_digits(first9: str, century: Literal[1900, 2000]) -> int:
    """Check digits for the first 9 digits; births from 2000 on are computed over ``"2" + first9``."""
    return mod97_check(int(first9) if century == 1900 else int("2" + first9))


def validate_insz(value: str) -> InszInfo:
    """Validate and decode an INSZ (separators allowed); raise :class:`InvalidIdentifier` saying why not."""
    number = compact_insz(value)
    require_digits(number, 11, "INSZ", kind=None)
    first9, check = number[:9], int(number[9:])
    expected_1900 = insz_check_digits(first9, 1900)
    expected_2000 = insz_check_digits(first9, 2000)
    if check == expected_1900:
        century = 1900
    elif check == expected_2000:
        century = 2000
    else:
        raise InvalidIdentifier(
            f"INSZ check digits {number[9:]} are wrong: expected {expected_1900:02d} (born 1900–1999) "
            f"or {expected_2000:02d} (born 2000–2099)",
            kind=_suggested_kind(number),
        )

    encoded_month = int(number[2:4])
    kind: InszKind
    if encoded_month <= 12:
        kind, offset = "national_register", 0
    elif 20 <= encoded_month <= 32:
        kind, offset = "bis", 20
    elif 40 <= encoded_month <= 52:
        kind, offset = "bis", 40
    else:
        raise InvalidIdentifier(
            f"impossible birth month {number[2:4]}: national-register months are 00–12, "
            "bis months 20–32 (sex unknown) or 40–52 (sex known)",
            kind=_suggested_kind(number),
        )

    counter = int(number[6:9])
    if counter in (0, 999):
        raise InvalidIdentifier(
            f"INSZ counter {number[6:9]} is never assigned (counters run 001–998)", kind=kind
        )

    sex: Sex | None = None if offset == 20 else ("M" if counter % 2 else "F")
    year: int | None = None
    month: int | None = None
    birth_date: date | None = None
    if number[:6] not in _FICTITIOUS:
        year = century + int(number[:2])
        month = (encoded_month - offset) or None  # 00: month unknown or day counter exhausted
        day = int(number[4:6])
        if month is not None and 1 <= day <= calendar.monthrange(year, month)[1]:
            birth_date = date(year, month, day)
    return InszInfo(number, kind, birth_date, year, month, sex)


def is_valid_insz(value: str) -> bool:
    """True when :func:`validate_insz` accepts the value."""
    try:
        validate_insz(value)
    except InvalidIdentifier:
        return False
    return True


def normalise_insz(value: str) -> str | None:
    """The compact 11-digit form of a valid INSZ, or None when it is not valid (for callers that only
    need a yes/no and the canonical form; use :func:`validate_insz` to say why)."""
    try:
        return validate_insz(value).number
    except InvalidIdentifier:
        return None


def make_insz(birth_date: date, counter: int, *, bis: BisMode | None = None) -> str:
    """Build the INSZ for a birth date and day counter (odd = male), computing the century-aware check digits.

    ``bis="sex_unknown"`` adds 20 to the month, ``bis="sex_known"`` adds 40.
    """
    if not 1900 <= birth_date.year <= 2099:
        raise ValueError(f"birth year {birth_date.year} cannot be encoded (1900–2099)")
    if not 1 <= counter <= 998:
        raise ValueError(f"counter {counter} out of range 1–998")
    if bis not in _BIS_OFFSET:
        raise ValueError(f"bis must be None, 'sex_unknown' or 'sex_known', not {bis!r}")
    month = birth_date.month + _BIS_OFFSET[bis]
    first9 = f"{birth_date.year % 100:02d}{month:02d}{birth_date.day:02d}{counter:03d}"
    century: Literal[1900, 2000] = 1900 if birth_date.year < 2000 else 2000
    return f"{first9}{insz_check_digits(first9, century):02d}"


def format_insz(value: str) -> str:
    """Presentation form ``YY.MM.DD-NNN.CC`` of a valid INSZ."""
    n = validate_insz(value).number
    return f"{n[0:2]}.{n[2:4]}.{n[4:6]}-{n[6:9]}.{n[9:11]}"


def _suggested_kind(number: str) -> InszKind:
    """Kind an 11-digit number looks like from its month field alone (for reporting invalid numbers)."""
    return "bis" if 20 <= int(number[2:4]) <= 59 else "national_register"
