"""RSZ/NSSO employer numbers: definitive (9 digits), provisional (10 digits) and the CommonV3 10-digit form.

Sources (DOMAIN.md §4.2, socialsecurity.be glossary): zone 00011 definitive ``NNNNNNNCC`` in
[100006; 199999934]; zone 00948 provisional ``NNNNNNNNCC`` in [5000000120; 5999999989]; CommonV3
``NssoRegistrationNumberType`` = ``0\\d{9}`` (definitive, zero-padded) or ``51\\d{8}`` (provisional).

The check rule is *not documented* in the sources. What we implement, and why: the four published range
bounds 100006, 199999934, 5000000120 and 5999999989 all satisfy ``number mod 97 == 96`` — i.e. check digits
``CC = 96 - ((100 × N) mod 97)`` — whereas the rules used elsewhere (``97 - N mod 97`` as for KBO/INSZ,
``N mod 97``, ``97 - 100N mod 97``) each fail on at least one bound. A wrong rule would match each bound
with odds of about 1 in 97, so a rule matching all four is very likely the real one; we adopt it for both
definitive and provisional numbers. Verify it against a real RSZ number before relying on it.
The congruence allows both ``00`` and ``97`` when ``100N mod 97 == 96``; we accept both and generate ``00``.
PPL numbers (zone 00109, 8 digits, [00000197; 99999926]) are not implemented: their two range bounds do not
fit the same rule and two points are too few to derive one.
"""

from __future__ import annotations

from kruispunt.ids._common import compact, require_digits
from kruispunt.ids.errors import InvalidIdentifier

_SEPARATORS = " .-/"
_KIND = "rsz_employer"
DEFINITIVE_RANGE = (100_006, 199_999_934)
PROVISIONAL_RANGE = (5_000_000_120, 5_999_999_989)


def rsz_check_digits(sequence: int) -> int:
    """Check digits making the whole number ≡ 96 (mod 97): ``96 - (100 × sequence mod 97)``, 0..96."""
    return 96 - (sequence * 100) % 97


def _check(number: str, label: str, bounds: tuple[int, int]) -> str:
    value = int(number)
    if not bounds[0] <= value <= bounds[1]:
        raise InvalidIdentifier(f"{label} {number} is outside the range {bounds[0]}–{bounds[1]}", kind=_KIND)
    if value % 97 != 96:
        expected = rsz_check_digits(int(number[:-2]))
        raise InvalidIdentifier(
            f"{label} check digits {number[-2:]} are wrong: expected {expected:02d}", kind=_KIND
        )
    return number


def validate_rsz_number(value: str) -> str:
    """Validate a definitive RSZ number; return it as 9 digits.

    Shorter input is zero-padded: the Dimona/DmfA XSDs type the zone as ``xs:integer`` (minimum 100006).
    """
    number = require_digits(compact(value, _SEPARATORS), 9, "RSZ number", kind=_KIND, pad=True)
    return _check(number, "RSZ number", DEFINITIVE_RANGE)


def validate_provisional_rsz_number(value: str) -> str:
    """Validate a provisional RSZ number (10 digits starting with 5); return the 10 digits."""
    number = compact(value, _SEPARATORS)
    require_digits(number, 10, "provisional RSZ number", kind=_KIND)
    return _check(number, "provisional RSZ number", PROVISIONAL_RANGE)


def validate_rsz_employer_number(value: str) -> str:
    """Validate a definitive (9 digits) or provisional (10 digits) RSZ number, chosen by length."""
    number = compact(value, _SEPARATORS)
    if len(number) == 10:
        return validate_provisional_rsz_number(number)
    return validate_rsz_number(number)


def is_valid_rsz_employer_number(value: str) -> bool:
    """True when :func:`validate_rsz_employer_number` accepts the value."""
    try:
        validate_rsz_employer_number(value)
    except InvalidIdentifier:
        return False
    return True


def validate_nsso_registration_number(value: str) -> str:
    """Validate the CommonV3 form: ``0`` + definitive number, or a provisional number starting with ``51``."""
    number = compact(value, _SEPARATORS)
    require_digits(number, 10, "NSSO registration number", kind=_KIND)
    if number[0] == "0":
        validate_rsz_number(number[1:])
    elif number.startswith("51"):
        validate_provisional_rsz_number(number)
    else:
        raise InvalidIdentifier(
            f"NSSO registration number must start with 0 or 51, not {number[:2]}", kind=_KIND
        )
    return number


def make_rsz_number(seq7: int) -> str:
    """Definitive RSZ number for a 7-digit sequence 1000..1 999 999."""
    if not 1_000 <= seq7 <= 1_999_999:
        raise ValueError(f"RSZ sequence {seq7} out of range 1000–1999999")
    return f"{seq7:07d}{rsz_check_digits(seq7):02d}"


def make_provisional_rsz_number(seq8: int) -> str:
    """Provisional RSZ number for an 8-digit sequence 50 000 001..59 999 999."""
    if not 50_000_001 <= seq8 <= 59_999_999:
        raise ValueError(f"provisional RSZ sequence {seq8} out of range 50000001–59999999")
    return f"{seq8:08d}{rsz_check_digits(seq8):02d}"
