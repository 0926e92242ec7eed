"""``check``: kind detection by shape, validity, reasons, and the 5xxxxxxxxx ambiguity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kruispunt.ids import (
    IdCheck,
    check,
    make_dimona_period_id,
    make_enterprise_number,
    make_establishment_number,
    make_provisional_rsz_number,
    make_rsz_number,
)


@pytest.mark.parametrize(
    ("number", "kind", "birth_date", "sex"),
    [
        ("85073003328", "national_register", "1985-07-30", "M"),
        ("17073003384", "national_register", "2017-07-30", "M"),
        ("75060898009", "national_register", "1975-06-08", "F"),
        ("98472899765", "bis", "1998-07-28", "M"),
        ("01490700185", "bis", "2001-09-07", "M"),
        ("75460898095", "bis", "1975-06-08", "F"),
        ("75260898052", "bis", "1975-06-08", None),
        ("00000100166", "national_register", None, "M"),
        ("00000100195", "national_register", None, "M"),
        ("00000000128", "national_register", None, "M"),
        ("00010000135", "national_register", None, "M"),
        ("00400100155", "bis", None, "M"),
        ("00200100112", "bis", None, None),
        ("00400000117", "bis", None, "M"),
        ("00210000178", "bis", None, None),
        ("85073500107", "national_register", None, "M"),
        ("85.07.30-033.28", "national_register", "1985-07-30", "M"),
        ("0403019261", "enterprise", None, None),
        ("0428759497", "enterprise", None, None),
        ("0202239951", "enterprise", None, None),
        ("0468561072", "enterprise", None, None),
        ("0244640631", "enterprise", None, None),
        ("0212344876", "enterprise", None, None),
        ("BE 0403.019.261", "enterprise", None, None),
        ("BE403019261", "enterprise", None, None),  # BE + old 9-digit form: enterprise, not RSZ
        ("2000021323", "establishment", None, None),
        ("2.000.021.323", "establishment", None, None),
        ("199999934", "rsz_employer", None, None),
        ("5000000120", "rsz_employer", None, None),
        ("5999999989", "rsz_employer", None, None),
    ],
)
def test_valid(number: str, kind: str, birth_date: str | None, sex: str | None) -> None:
    assert check(number) == IdCheck(valid=True, kind=kind, birth_date=birth_date, sex=sex, reason=None)


@pytest.mark.parametrize(
    ("number", "kind", "reason_part"),
    [
        ("85133000105", "national_register", "impossible birth month 13"),
        ("12345678901", "bis", "check digits 01 are wrong"),  # month field 34 looks like a bis number
        ("85073000028", "national_register", "check digits"),
        ("0431150351", "enterprise", "check digits 51 are wrong"),
        ("BE0000000000", "enterprise", "check digits 00 are wrong"),
        ("BE2000021323", "enterprise", "must start with 0 or 1"),
        ("2000021324", "establishment", "check digits 24 are wrong"),
        ("199999924", "rsz_employer", "check digits 24 are wrong"),
        ("299999999", "rsz_employer", "outside the range"),
        ("123456789012", "dimona_period", "check digits 12 are wrong"),
        ("9123456789", None, "10-digit numbers starting with 9"),
        ("12345", None, "5 digits match no identifier"),
        ("", None, "empty number"),
        ("abc", None, "characters other than digits"),
        ("85073003328 ok", None, "characters other than digits"),
    ],
)
def test_invalid(number: str, kind: str | None, reason_part: str) -> None:
    result = check(number)
    assert not result.valid
    assert result.kind == kind
    assert result.reason is not None
    assert reason_part in result.reason
    assert (result.birth_date, result.sex) == (None, None)


def test_dimona_period_valid() -> None:
    number = make_dimona_period_id(4_000_000_001)
    assert check(number) == IdCheck(valid=True, kind="dimona_period", birth_date=None, sex=None, reason=None)


def test_five_prefix_establishment_wins_when_both_checks_pass() -> None:
    seq = next(s for s in range(50_000_001, 50_001_000) if s % 97 == 48)
    number = make_establishment_number(seq)
    assert number == make_provisional_rsz_number(seq)  # same digits pass both check rules
    assert check(number).kind == "establishment"


def test_five_prefix_falls_back_to_provisional_rsz() -> None:
    seq = next(s for s in range(50_000_001, 50_001_000) if s % 97 != 48)
    number = make_provisional_rsz_number(seq)
    assert check(number) == IdCheck(valid=True, kind="rsz_employer", birth_date=None, sex=None, reason=None)
    assert check(make_establishment_number(seq)).kind == "establishment"


def test_five_prefix_invalid_for_both_explains_both() -> None:
    result = check("5000000100")
    assert result.valid is False
    assert result.kind == "establishment"
    assert result.reason is not None
    assert "establishment-unit number check digits" in result.reason
    assert "not a provisional RSZ number either" in result.reason


def test_zero_padded_rsz_is_not_guessed_as_rsz() -> None:
    """``0`` + RSZ number is an enterprise-number shape; we do not fall back (see service docstring)."""
    padded = "0" + make_rsz_number(1_234_567)
    assert check(padded).kind == "enterprise"


@given(st.integers(0, 19_999_999))
def test_generated_enterprise_numbers_detected(seq: int) -> None:
    assert check(make_enterprise_number(seq)).kind == "enterprise"


@given(st.integers(1_000, 1_999_999))
def test_generated_rsz_numbers_detected(seq: int) -> None:
    assert check(make_rsz_number(seq)) == IdCheck(
        valid=True, kind="rsz_employer", birth_date=None, sex=None, reason=None
    )


@given(st.text())
def test_never_raises_and_reason_iff_invalid(text: str) -> None:
    result = check(text)
    assert (result.reason is None) == result.valid
    if result.valid:
        assert result.kind is not None


@given(st.text(alphabet="0123456789 .-/BE", max_size=16))
def test_never_raises_on_number_like_text(text: str) -> None:
    result = check(text)
    assert (result.reason is None) == result.valid
