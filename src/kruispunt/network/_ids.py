"""Identifier checks used by the network package until ``kruispunt.ids`` lands (then delegate to it)."""

from __future__ import annotations

from stdnum.be import ssn


def is_valid_kbo(number: str) -> bool:
    """A KBO/BCE enterprise number: 10 digits, first digit 0 or 1, ``(int(n[:8]) + int(n[8:])) % 97 == 0``."""
    return (
        len(number) == 10
        and number.isascii()
        and number.isdigit()
        and number[0] in "01"
        and (int(number[:8]) + int(number[8:])) % 97 == 0
    )


def normalise_insz(value: str) -> str | None:
    """The 11-digit INSZ (national-register or bis number) or None when it is not a valid one.

    Separators (dots, dashes, spaces) are accepted and removed.
    """
    compact = "".join(ch for ch in value if ch not in " .-/")
    if len(compact) != 11 or not compact.isascii() or not compact.isdigit():
        return None
    return compact if ssn.is_valid(compact) else None


def is_bis_number(insz: str) -> bool:
    """True when the (valid, compact) INSZ is a bis number (month + 20 or + 40)."""
    return int(insz[2:4]) >= 20
