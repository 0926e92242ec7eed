"""Small shared helpers: separator stripping, ASCII-digit test, the mod-97 check used by most Belgian ids."""

from __future__ import annotations

import re

from stdnum.util import clean

from kruispunt.ids.errors import InvalidIdentifier

_DIGITS = re.compile(r"[0-9]+")


def compact(value: str, separators: str) -> str:
    """Remove whitespace and the given separator characters (stdnum also folds Unicode dashes/dots).

    A value that is ASCII digits already (what machines send) is returned as it is: stdnum's folding
    costs more than the rest of a validation."""
    if _DIGITS.fullmatch(value) is not None:
        return value
    return clean("".join(value.split()), separators)


def is_digits(value: str) -> bool:
    """True for a non-empty string of ASCII digits only (``str.isdigit`` also accepts '²' and '٣')."""
    return _DIGITS.fullmatch(value) is not None


def require_digits(number: str, length: int, label: str, *, kind: str | None, pad: bool = False) -> str:
    """Return ``number`` if it is exactly ``length`` ASCII digits, else raise with a precise reason.

    ``pad=True`` left-pads shorter numbers with zeros, for zones the XSDs type as ``xs:integer``.
    """
    if not number:
        raise InvalidIdentifier(f"{label} is empty", kind=kind)
    if not is_digits(number):
        bad = "".join(sorted({c for c in number if not ("0" <= c <= "9")}))
        raise InvalidIdentifier(f"{label} contains non-digit characters: {bad!r}", kind=kind)
    if pad and len(number) < length:
        return number.zfill(length)
    if len(number) != length:
        raise InvalidIdentifier(f"{label} must have {length} digits, got {len(number)}", kind=kind)
    return number


def mod97_check(value: int) -> int:
    """Check digits ``97 - (value mod 97)``: always 1..97, so ``00`` is never a valid check."""
    return 97 - value % 97
