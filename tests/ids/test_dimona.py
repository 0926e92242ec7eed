"""Dimona period ids: 12 digits, check ``97 - (first 10 mod 97)``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.ids import (
    InvalidIdentifier,
    is_valid_dimona_period_id,
    make_dimona_period_id,
    validate_dimona_period_id,
)


def test_known_values() -> None:
    assert make_dimona_period_id(1234567890) == "1234567890" + f"{97 - 1234567890 % 97:02d}"
    assert make_dimona_period_id(97) == "000000009797"  # remainder 0 → check 97
    assert validate_dimona_period_id("1234-5678-9095") == "123456789095"


def test_short_integer_form_is_padded() -> None:
    """The Dimona XSD types the zone as xs:integer (totalDigits 12), so leading zeros may be missing."""
    number = make_dimona_period_id(12345)
    assert validate_dimona_period_id(number.lstrip("0")) == number


@pytest.mark.parametrize(
    ("number", "reason_part"),
    [
        ("123456789012", "check digits 12 are wrong: expected 95"),
        ("1234567890123", "must have 12 digits, got 13"),
        ("12345678901a", "non-digit characters: 'a'"),
        ("000000009700", "check digits 00 are wrong: expected 97"),
    ],
)
def test_invalid_with_reason(number: str, reason_part: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_dimona_period_id(number)
    assert reason_part in exc.value.reason
    assert exc.value.kind == "dimona_period"
    assert not is_valid_dimona_period_id(number)


@pytest.mark.parametrize("seq", [-1, 10_000_000_000])
def test_make_out_of_range(seq: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        make_dimona_period_id(seq)


seqs = st.integers(min_value=0, max_value=9_999_999_999)


@given(seqs)
def test_round_trip(seq: int) -> None:
    number = make_dimona_period_id(seq)
    assert len(number) == 12
    assert validate_dimona_period_id(number) == number
    assert int(number[:10]) == seq


@given(seqs, st.integers(0, 11), st.integers(1, 9))
def test_single_digit_errors_are_caught(seq: int, position: int, delta: int) -> None:
    number = make_dimona_period_id(seq)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert not is_valid_dimona_period_id(changed)


@given(seqs, st.integers(0, 10))
def test_adjacent_transpositions_are_caught(seq: int, position: int) -> None:
    number = make_dimona_period_id(seq)
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    if swapped != number:
        assert not is_valid_dimona_period_id(swapped)


@given(st.text())
def test_random_text_only_raises_invalid_identifier(text: str) -> None:
    try:
        validate_dimona_period_id(text)
    except InvalidIdentifier as exc:
        reason = exc.reason
    else:
        reason = "valid"
    assert reason
