"""Dimona period id (zone 00913): 12 digits, the last two check digits.

The glossary only says "the last two positions are a check number". We use the scheme of the other Belgian
ids: ``CC = 97 - (int(first 10 digits) mod 97)`` (1..97, never 00). This is a documented assumption, not a
published rule; ids the RSZ hands out are stored as received, this only guards typing errors and our own
generated ids.
"""

from __future__ import annotations

from kruispunt.ids._common import compact, mod97_check, require_digits
from kruispunt.ids.errors import InvalidIdentifier

_SEPARATORS = " .-/"
_KIND = "dimona_period"


def validate_dimona_period_id(value: str) -> str:
    """Validate a Dimona period id; return it as 12 digits (shorter input is zero-padded: ``xs:integer``)."""
    number = require_digits(compact(value, _SEPARATORS), 12, "Dimona period id", kind=_KIND, pad=True)
    expected = mod97_check(int(number[:10]))
    if int(number[10:]) != expected:
        raise InvalidIdentifier(
            f"Dimona period id check digits {number[10:]} are wrong: expected {expected:02d}", kind=_KIND
        )
    return number


def is_valid_dimona_period_id(value: str) -> bool:
    """True when :func:`validate_dimona_period_id` accepts the value."""
    try:
        validate_dimona_period_id(value)
    except InvalidIdentifier:
        return False
    return True


def make_dimona_period_id(seq10: int) -> str:
    """Dimona period id for a sequence 0..9 999 999 999."""
    if not 0 <= seq10 <= 9_999_999_999:
        raise ValueError(f"Dimona sequence {seq10} out of range 0–9999999999")
    return f"{seq10:010d}{mod97_check(seq10):02d}"
