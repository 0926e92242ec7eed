"""KBO enterprise and establishment-unit numbers: DOMAIN.md §4.2 vectors and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.be import vat

from kruispunt.ids import (
    InvalidIdentifier,
    format_enterprise_number,
    format_establishment_number,
    is_valid_enterprise_number,
    is_valid_establishment_number,
    make_enterprise_number,
    make_establishment_number,
    validate_enterprise_number,
    validate_establishment_number,
)

VALID_ENTERPRISE = ["0403019261", "0428759497", "0202239951", "0468561072", "0244640631", "0212344876"]


@pytest.mark.parametrize("number", VALID_ENTERPRISE)
def test_published_enterprise_numbers(number: str) -> None:
    assert validate_enterprise_number(number) == number
    assert vat.is_valid(number)


@pytest.mark.parametrize(
    ("spelled", "normalised"),
    [
        ("BE0403019261", "0403019261"),
        ("be 0403.019.261", "0403019261"),
        ("BE403019261", "0403019261"),  # old 9-digit VAT form
        ("403019261", "0403019261"),
        ("(0)403019261", "0403019261"),
        ("0566.988.259", "0566988259"),  # Flemish wiki example
        ("0403/019/261", "0403019261"),
    ],
)
def test_enterprise_spellings(spelled: str, normalised: str) -> None:
    assert validate_enterprise_number(spelled) == normalised


def test_check_97_when_remainder_is_zero() -> None:
    assert int("04287594") % 97 == 0
    assert validate_enterprise_number("0428759497") == "0428759497"
    assert vat.is_valid("0428759400")  # stdnum's (seq + check) % 97 == 0 also lets 00 through ...
    with pytest.raises(InvalidIdentifier, match="check digits 00 are wrong: expected 97"):
        validate_enterprise_number("0428759400")  # ... we do not: 00 is never issued


@pytest.mark.parametrize(
    ("number", "reason_part"),
    [
        ("0431150351", "check digits 51 are wrong: expected 50"),
        ("BE0000000000", "check digits 00 are wrong"),
        ("BE2000021323", "must start with 0 or 1, not 2 (2–8 is an establishment-unit number)"),
        ("9403019261", "must start with 0 or 1, not 9"),
        ("04030192", "must have 10 digits, got 8"),
        ("04030192AB", "non-digit characters: 'AB'"),
        ("", "enterprise number is empty"),
    ],
)
def test_invalid_enterprise_numbers(number: str, reason_part: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_enterprise_number(number)
    assert reason_part in exc.value.reason
    assert exc.value.kind == "enterprise"
    assert not is_valid_enterprise_number(number)


def test_establishment_numbers() -> None:
    # stdnum's vector BE2000021323 passes mod 97 and is rejected only for its leading 2: a unit number.
    assert validate_establishment_number("2.000.021.323") == "2000021323"
    assert is_valid_establishment_number("2000021323")
    assert format_establishment_number("2000021323") == "2.000.021.323"


@pytest.mark.parametrize(
    ("number", "reason_part"),
    [
        ("2000021324", "check digits 24 are wrong: expected 23"),
        ("0403019261", "must start with 2–8, not 0 (0/1 is an enterprise number)"),
        ("9000021323", "must start with 2–8, not 9"),
        ("BE2000021323", "non-digit characters"),
    ],
)
def test_invalid_establishment_numbers(number: str, reason_part: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_establishment_number(number)
    assert reason_part in exc.value.reason
    assert exc.value.kind == "establishment"


def test_format_enterprise_number() -> None:
    assert format_enterprise_number("BE403019261") == "0403.019.261"


@pytest.mark.parametrize(
    ("seq", "make"), [(-1, make_enterprise_number), (20_000_000, make_enterprise_number)]
)
def test_make_enterprise_out_of_range(seq: int, make: object) -> None:
    with pytest.raises(ValueError, match="out of range"):
        make_enterprise_number(seq)


@pytest.mark.parametrize("seq", [19_999_999, 90_000_000])
def test_make_establishment_out_of_range(seq: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        make_establishment_number(seq)


enterprise_seqs = st.integers(min_value=0, max_value=19_999_999)
establishment_seqs = st.integers(min_value=20_000_000, max_value=89_999_999)


@given(enterprise_seqs)
def test_enterprise_round_trip(seq: int) -> None:
    number = make_enterprise_number(seq)
    assert validate_enterprise_number(number) == number
    assert validate_enterprise_number("BE" + format_enterprise_number(number)) == number
    assert int(number[:8]) == seq
    if seq > 0:
        assert vat.is_valid(number)


@given(establishment_seqs)
def test_establishment_round_trip(seq: int) -> None:
    number = make_establishment_number(seq)
    assert validate_establishment_number(number) == number
    assert int(number[:8]) == seq


@given(st.one_of(enterprise_seqs, establishment_seqs), st.integers(0, 9), st.integers(1, 9))
def test_single_digit_errors_are_caught(seq: int, position: int, delta: int) -> None:
    number = make_enterprise_number(seq) if seq < 20_000_000 else make_establishment_number(seq)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert not is_valid_enterprise_number(changed)
    assert not is_valid_establishment_number(changed)


@given(st.one_of(enterprise_seqs, establishment_seqs), st.integers(0, 8))
def test_adjacent_transpositions_are_caught(seq: int, position: int) -> None:
    number = make_enterprise_number(seq) if seq < 20_000_000 else make_establishment_number(seq)
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    if swapped != number:
        assert not is_valid_enterprise_number(swapped)
        assert not is_valid_establishment_number(swapped)


@given(st.text())
def test_random_text_only_raises_invalid_identifier(text: str) -> None:
    for validate in (validate_enterprise_number, validate_establishment_number):
        try:
            validate(text)
        except InvalidIdentifier as exc:
            reason = exc.reason
        else:
            reason = "valid"
        assert reason
