"""Detect which kind of identifier a string is, validate it, and say why when it is not valid.

Detection is by shape after removing whitespace, dots, dashes and slashes:

* ``BE`` prefix → enterprise number (also the old 9-digit form);
* 11 digits → INSZ (national-register or bis number, by the month field);
* 10 digits starting 0/1 → enterprise; 2–8 → establishment unit; 9 → nothing;
* 9 digits → definitive RSZ number; 12 digits → Dimona period id.

Ambiguity decided here: provisional RSZ numbers (5000000120..5999999989) share the shape of
establishment-unit numbers starting with 5. We try establishment first (the KBO is the authentic source for
units, provisional RSZ numbers are short-lived) and fall back to provisional RSZ. About 1 in 97 such numbers
passes both checks (sequence ≡ 48 mod 97) and is reported as an establishment unit; callers that know the
field use the specific validators. The CommonV3 ``0``-padded RSZ form (``0\\d{9}``) is *not* a fallback for
enterprise numbers: that would let ~1 % of mistyped enterprise numbers pass; use
``rsz.validate_nsso_registration_number`` for it.
"""

from __future__ import annotations

from kruispunt.ids._common import compact, is_digits
from kruispunt.ids.dimona import validate_dimona_period_id
from kruispunt.ids.errors import InvalidIdentifier
from kruispunt.ids.insz import validate_insz
from kruispunt.ids.kbo import validate_enterprise_number, validate_establishment_number
from kruispunt.ids.rsz import validate_provisional_rsz_number, validate_rsz_number
from kruispunt.ids.schemas import IdCheck, IdKind

_SEPARATORS = " .-/"


def _valid(kind: IdKind) -> IdCheck:
    return IdCheck(valid=True, kind=kind, birth_date=None, sex=None, reason=None)


def _invalid(kind: IdKind | None, reason: str) -> IdCheck:
    return IdCheck(valid=False, kind=kind, birth_date=None, sex=None, reason=reason)


def check(number: str) -> IdCheck:
    """Detect the kind of ``number`` and validate it; never raises for any string."""
    shape = compact(number, _SEPARATORS)
    try:
        if shape[:2].upper() == "BE":
            validate_enterprise_number(number)
            return _valid("enterprise")
        if not shape:
            return _invalid(None, "empty number")
        if not is_digits(shape):
            bad = "".join(sorted({c for c in shape if not ("0" <= c <= "9")}))
            return _invalid(None, f"contains characters other than digits and separators: {bad!r}")
        length = len(shape)
        if length == 11:
            info = validate_insz(shape)
            return IdCheck(
                valid=True,
                kind=info.kind,
                birth_date=info.birth_date.isoformat() if info.birth_date else None,
                sex=info.sex,
                reason=None,
            )
        if length == 10:
            return _check_ten(shape)
        if length == 9:
            validate_rsz_number(shape)
            return _valid("rsz_employer")
        if length == 12:
            validate_dimona_period_id(shape)
            return _valid("dimona_period")
        return _invalid(
            None,
            f"{length} digits match no identifier (INSZ 11, KBO 10, RSZ 9 or 10, Dimona period id 12)",
        )
    except InvalidIdentifier as exc:
        return _invalid(_as_kind(exc.kind), exc.reason)


def _check_ten(shape: str) -> IdCheck:
    first = shape[0]
    if first in "01":
        validate_enterprise_number(shape)
        return _valid("enterprise")
    if first == "9":
        return _invalid(None, "10-digit numbers starting with 9 match no identifier")
    try:
        validate_establishment_number(shape)
        return _valid("establishment")
    except InvalidIdentifier as establishment_error:
        if first != "5":
            raise
        try:
            validate_provisional_rsz_number(shape)
        except InvalidIdentifier as rsz_error:
            reason = f"{establishment_error.reason}; not a provisional RSZ number either: {rsz_error.reason}"
            return _invalid("establishment", reason)
        return _valid("rsz_employer")


def _as_kind(kind: str | None) -> IdKind | None:
    kinds: tuple[IdKind, ...] = (
        "national_register",
        "bis",
        "enterprise",
        "establishment",
        "rsz_employer",
        "dimona_period",
    )
    for known in kinds:
        if kind == known:
            return known
    return None
