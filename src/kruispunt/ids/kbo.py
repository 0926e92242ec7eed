"""KBO/BCE numbers: enterprise numbers (first digit 0/1) and establishment-unit numbers (first digit 2–8).

Both are 10 digits: an 8-digit sequence and check digits ``97 - (sequence mod 97)`` (DOMAIN.md §4.2).
Enterprise numbers go through ``stdnum.be.vat`` (which strips ``BE``, ``(0)`` and pads the old 9-digit form);
we add two things stdnum does not: a reason for every rejection, and strict check digits (``00`` is never
issued — the check is 97 when the remainder is 0 — while stdnum's ``(seq + check) % 97 == 0`` accepts ``00``).
Establishment-unit numbers are not in stdnum; they use the same check (CommonV3 ``BusinessUnitNumberType``).
"""

from __future__ import annotations

from stdnum.be import vat
from stdnum.exceptions import ValidationError

from kruispunt.ids._common import compact, mod97_check, require_digits
from kruispunt.ids.errors import InvalidIdentifier

_SEPARATORS = " .-/"


def _check(number: str, label: str, kind: str) -> None:
    expected = mod97_check(int(number[:8]))
    if int(number[8:]) != expected:
        raise InvalidIdentifier(
            f"{label} check digits {number[8:]} are wrong: expected {expected:02d}", kind=kind
        )


def validate_enterprise_number(value: str) -> str:
    """Validate an enterprise number (``BE``, dots, old 9-digit form accepted); return its 10 digits."""
    number = vat.compact(compact(value, _SEPARATORS))
    require_digits(number, 10, "enterprise number", kind="enterprise")
    if number[0] not in "01":
        hint = " (2–8 is an establishment-unit number)" if number[0] in "2345678" else ""
        raise InvalidIdentifier(
            f"enterprise number must start with 0 or 1, not {number[0]}{hint}", kind="enterprise"
        )
    _check(number, "enterprise number", "enterprise")
    try:  # belt and braces: our rules are stricter than stdnum's, so this never fires for a passing number
        vat.validate(number)
    except ValidationError as exc:  # pragma: no cover - defensive
        raise InvalidIdentifier(f"enterprise number rejected: {exc}", kind="enterprise") from exc
    return number


def is_valid_enterprise_number(value: str) -> bool:
    """True when :func:`validate_enterprise_number` accepts the value."""
    try:
        validate_enterprise_number(value)
    except InvalidIdentifier:
        return False
    return True


def validate_establishment_number(value: str) -> str:
    """Validate an establishment-unit number (10 digits, first digit 2–8, mod-97 check); return 10 digits."""
    number = compact(value, _SEPARATORS)
    require_digits(number, 10, "establishment-unit number", kind="establishment")
    if number[0] not in "2345678":
        hint = " (0/1 is an enterprise number)" if number[0] in "01" else ""
        raise InvalidIdentifier(
            f"establishment-unit number must start with 2–8, not {number[0]}{hint}", kind="establishment"
        )
    _check(number, "establishment-unit number", "establishment")
    return number


def is_valid_establishment_number(value: str) -> bool:
    """True when :func:`validate_establishment_number` accepts the value."""
    try:
        validate_establishment_number(value)
    except InvalidIdentifier:
        return False
    return True


def make_enterprise_number(seq8: int) -> str:
    """Enterprise number for an 8-digit sequence 0..19 999 999 (first digit 0 or 1)."""
    if not 0 <= seq8 <= 19_999_999:
        raise ValueError(f"enterprise sequence {seq8} out of range 0–19999999")
    return f"{seq8:08d}{mod97_check(seq8):02d}"


def make_establishment_number(seq8: int) -> str:
    """Establishment-unit number for an 8-digit sequence 20 000 000..89 999 999 (first digit 2–8)."""
    if not 20_000_000 <= seq8 <= 89_999_999:
        raise ValueError(f"establishment sequence {seq8} out of range 20000000–89999999")
    return f"{seq8:08d}{mod97_check(seq8):02d}"


def format_enterprise_number(value: str) -> str:
    """Presentation form ``0403.019.261``."""
    n = validate_enterprise_number(value)
    return f"{n[:4]}.{n[4:7]}.{n[7:]}"


def format_establishment_number(value: str) -> str:
    """Presentation form ``2.000.021.323``."""
    n = validate_establishment_number(value)
    return f"{n[0]}.{n[1:4]}.{n[4:7]}.{n[7:]}"
