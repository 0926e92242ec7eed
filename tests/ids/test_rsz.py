"""RSZ/NSSO employer numbers: published range bounds, the derived check rule, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.ids import (
    InvalidIdentifier,
    is_valid_rsz_employer_number,
    make_provisional_rsz_number,
    make_rsz_number,
    validate_nsso_registration_number,
    validate_provisional_rsz_number,
    validate_rsz_employer_number,
    validate_rsz_number,
)
from kruispunt.ids.rsz import rsz_check_digits


def test_published_range_bounds_are_valid() -> None:
    """The four glossary bounds are what the check rule was derived from."""
    assert validate_rsz_number("100006") == "000100006"  # xs:integer in the XSD: no leading zeros there
    assert validate_rsz_number("000100006") == "000100006"
    assert validate_rsz_number("199999934") == "199999934"
    assert validate_provisional_rsz_number("5000000120") == "5000000120"
    assert validate_provisional_rsz_number("5999999989") == "5999999989"
    for bound in (100006, 199999934, 5000000120, 5999999989):
        assert bound % 97 == 96


def test_make_matches_bounds() -> None:
    assert make_rsz_number(1000) == "000100006"
    assert make_rsz_number(1_999_999) == "199999934"
    assert make_provisional_rsz_number(50_000_001) == "5000000120"
    assert make_provisional_rsz_number(59_999_999) == "5999999989"


def test_check_digits_00_and_97_both_satisfy_the_congruence() -> None:
    seq = next(s for s in range(1000, 2000) if (s * 100) % 97 == 96)
    assert rsz_check_digits(seq) == 0
    assert validate_rsz_number(f"{seq:07d}00") == f"{seq:07d}00"
    assert validate_rsz_number(f"{seq:07d}97") == f"{seq:07d}97"
    assert make_rsz_number(seq).endswith("00")


@pytest.mark.parametrize(
    ("number", "reason_part"),
    [
        ("199999924", "check digits 24 are wrong: expected 34"),
        ("200000000", "outside the range 100006–199999934"),
        ("100005", "outside the range"),
        ("1999999340", "outside the range 5000000120–5999999989"),
        ("5000000121", "check digits 21 are wrong: expected 20"),
        ("1234567890123", "must have 9 digits, got 13"),
        ("12345678x", "non-digit characters: 'x'"),
    ],
)
def test_invalid_with_reason(number: str, reason_part: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_rsz_employer_number(number)
    assert reason_part in exc.value.reason
    assert exc.value.kind == "rsz_employer"
    assert not is_valid_rsz_employer_number(number)


def test_employer_number_dispatches_on_length() -> None:
    assert validate_rsz_employer_number("199.9999.34") == "199999934"
    assert validate_rsz_employer_number("5000000120") == "5000000120"


def test_nsso_registration_number_commonv3() -> None:
    assert validate_nsso_registration_number("0199999934") == "0199999934"
    provisional = make_provisional_rsz_number(51_234_567)
    assert validate_nsso_registration_number(provisional) == provisional
    with pytest.raises(InvalidIdentifier, match="must start with 0 or 51, not 52"):
        validate_nsso_registration_number(make_provisional_rsz_number(52_000_000))
    with pytest.raises(InvalidIdentifier, match="check digits"):
        validate_nsso_registration_number("0199999924")


@pytest.mark.parametrize(
    ("make", "seq"),
    [(make_rsz_number, 999), (make_rsz_number, 2_000_000), (make_provisional_rsz_number, 50_000_000)],
)
def test_make_out_of_range(make: object, seq: int) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match="out of range"):
        make(seq)


definitive = st.integers(min_value=1_000, max_value=1_999_999)
provisional = st.integers(min_value=50_000_001, max_value=59_999_999)


@given(definitive)
def test_definitive_round_trip(seq: int) -> None:
    number = make_rsz_number(seq)
    assert validate_rsz_number(number) == number
    assert validate_nsso_registration_number("0" + number) == "0" + number


@given(provisional)
def test_provisional_round_trip(seq: int) -> None:
    number = make_provisional_rsz_number(seq)
    assert validate_rsz_employer_number(number) == number


@given(st.one_of(definitive, provisional), st.integers(0, 9), st.integers(1, 9))
def test_single_digit_errors_are_caught(seq: int, position: int, delta: int) -> None:
    number = make_rsz_number(seq) if seq < 2_000_000 else make_provisional_rsz_number(seq)
    position %= len(number)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert not is_valid_rsz_employer_number(changed)


@given(st.one_of(definitive, provisional), st.integers(0, 8))
def test_adjacent_transpositions_are_caught(seq: int, position: int) -> None:
    number = make_rsz_number(seq) if seq < 2_000_000 else make_provisional_rsz_number(seq)
    position %= len(number) - 1
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    if swapped != number:
        assert not is_valid_rsz_employer_number(swapped)


@given(st.text())
def test_random_text_only_raises_invalid_identifier(text: str) -> None:
    for validate in (validate_rsz_employer_number, validate_nsso_registration_number):
        try:
            validate(text)
        except InvalidIdentifier as exc:
            reason = exc.reason
        else:
            reason = "valid"
        assert reason
