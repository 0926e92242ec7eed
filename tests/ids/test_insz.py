"""INSZ: DOMAIN.md §4.1 vectors, reasons, and properties (round trip, error detection, robustness)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.be import ssn

from kruispunt.ids import InszInfo, InvalidIdentifier, format_insz, is_valid_insz, make_insz, validate_insz
from kruispunt.ids.insz import insz_check_digits

# number, kind, century (from the check digits), birth_date, birth_year, birth_month, sex
VALID = [
    ("85073003328", "national_register", 1900, date(1985, 7, 30), 1985, 7, "M"),
    ("17073003384", "national_register", 2000, date(2017, 7, 30), 2017, 7, "M"),
    ("75060898009", "national_register", 1900, date(1975, 6, 8), 1975, 6, "F"),
    ("98472899765", "bis", 1900, date(1998, 7, 28), 1998, 7, "M"),
    ("01490700185", "bis", 2000, date(2001, 9, 7), 2001, 9, "M"),
    ("75460898095", "bis", 1900, date(1975, 6, 8), 1975, 6, "F"),
    ("75260898052", "bis", 1900, date(1975, 6, 8), 1975, 6, None),  # +20: sex unknown
    ("00000100166", "national_register", 1900, None, None, None, "M"),  # fictitious 1900-00-01
    ("00000100195", "national_register", 2000, None, None, None, "M"),  # fictitious 2000-00-01
    ("00000000128", "national_register", 2000, None, 2000, None, "M"),  # only the year known
    ("00010000135", "national_register", 2000, None, 2000, 1, "M"),  # year + month known
    ("00400100155", "bis", 1900, None, None, None, "M"),  # fictitious, bis +40
    ("00200100112", "bis", 1900, None, None, None, None),  # fictitious, bis +20
    ("00400000117", "bis", 2000, None, 2000, None, "M"),  # year known, bis +40
    ("00210000178", "bis", 2000, None, 2000, 1, None),  # year + month known, bis +20
    ("85073500107", "national_register", 1900, None, 1985, 7, "M"),  # day 35 → day unknown
    ("70100853190", "national_register", 1900, date(1970, 10, 8), 1970, 10, "M"),  # Lino example
]


@pytest.mark.parametrize(("number", "kind", "century", "birth_date", "year", "month", "sex"), VALID)
def test_published_valid_vectors(
    number: str,
    kind: str,
    century: int,
    birth_date: date | None,
    year: int | None,
    month: int | None,
    sex: str | None,
) -> None:
    info = validate_insz(number)
    assert info == InszInfo(number, kind, birth_date, year, month, sex)  # type: ignore[arg-type]
    assert int(number[9:]) == insz_check_digits(number[:9], century)  # type: ignore[arg-type]
    assert is_valid_insz(number)


@pytest.mark.parametrize("number", [v[0] for v in VALID])
def test_agrees_with_stdnum(number: str) -> None:
    """All vectors are in the past, where stdnum's clock-dependent century rule agrees with ours."""
    assert ssn.is_valid(number)
    info = validate_insz(number)
    assert ssn.guess_type(number) == ("nn" if info.kind == "national_register" else "bis")
    assert ssn.get_birth_date(number) == info.birth_date
    assert ssn.get_birth_year(number) == info.birth_year
    assert ssn.get_birth_month(number) == info.birth_month
    assert ssn.get_gender(number) == info.sex


@pytest.mark.parametrize(
    ("number", "reason_part"),
    [
        ("85133000105", "impossible birth month 13"),  # stdnum: InvalidComponent
        ("12345678901", "check digits 01 are wrong"),  # stdnum: InvalidChecksum
        ("68060101234", "check digits 34 are wrong"),  # "real-looking" Lino example: its check does not hold
        ("8507300332", "must have 11 digits, got 10"),
        ("850730033288", "must have 11 digits, got 12"),
        ("85O73003328", "non-digit characters: 'O'"),
        ("", "INSZ is empty"),
        ("  . - ", "INSZ is empty"),
        ("8507300332²", "non-digit characters"),
    ],
)
def test_invalid_with_reason(number: str, reason_part: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_insz(number)
    assert reason_part in exc.value.reason
    assert str(exc.value) == exc.value.reason
    assert not is_valid_insz(number)


def _with_check(first9: str, century: int = 1900) -> str:
    return first9 + f"{insz_check_digits(first9, 1900 if century == 1900 else 2000):02d}"


@pytest.mark.parametrize("counter", ["000", "999"])
@pytest.mark.parametrize("month", ["07", "27", "47"])
def test_counter_000_and_999_rejected(counter: str, month: str) -> None:
    with pytest.raises(InvalidIdentifier, match=f"counter {counter} is never assigned"):
        validate_insz(_with_check(f"85{month}30{counter}"))


@pytest.mark.parametrize("month", ["13", "19", "33", "39", "53", "99"])
def test_impossible_months_rejected(month: str) -> None:
    with pytest.raises(InvalidIdentifier, match=f"impossible birth month {month}"):
        validate_insz(_with_check(f"85{month}01001"))


def test_check_digit_reason_names_both_centuries() -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_insz("85073003329")
    assert exc.value.reason == (
        "INSZ check digits 29 are wrong: expected 28 (born 1900–1999) or 57 (born 2000–2099)"
    )


@pytest.mark.parametrize("spelled", ["85.07.30-033.28", "85 07 30 033 28", " 85073003328\n", "850730-03328"])
def test_separators_are_normalised(spelled: str) -> None:
    assert validate_insz(spelled).number == "85073003328"


def test_day_beyond_month_means_day_unknown() -> None:
    info = validate_insz(_with_check("850229001"))  # 1985 is not a leap year
    assert (info.birth_date, info.birth_year, info.birth_month) == (None, 1985, 2)
    assert validate_insz(_with_check("000229001", 2000)).birth_date == date(2000, 2, 29)


def test_month_zero_with_day_means_month_unknown() -> None:
    info = validate_insz(_with_check("850015002"))
    assert (info.birth_date, info.birth_year, info.birth_month, info.sex) == (None, 1985, None, "F")


def test_future_birth_dates_follow_the_check_digits_not_the_clock() -> None:
    number = make_insz(date(2079, 1, 2), 3)
    assert validate_insz(number).birth_date == date(2079, 1, 2)


def test_make_insz_known_values() -> None:
    assert make_insz(date(1985, 7, 30), 33) == "85073003328"
    assert make_insz(date(2017, 7, 30), 33) == "17073003384"
    assert make_insz(date(1998, 7, 28), 997, bis="sex_known") == "98472899765"
    assert make_insz(date(1975, 6, 8), 980, bis="sex_unknown") == "75260898052"


@pytest.mark.parametrize(
    ("birth", "counter", "bis"),
    [
        (date(1899, 12, 31), 1, None),
        (date(2100, 1, 1), 1, None),
        (date(1985, 1, 1), 0, None),
        (date(1985, 1, 1), 999, None),
        (date(1985, 1, 1), 1, "sex_maybe"),
    ],
)
def test_make_insz_rejects_unencodable_input(birth: date, counter: int, bis: str | None) -> None:
    with pytest.raises(ValueError, match=r"."):
        make_insz(birth, counter, bis=bis)  # type: ignore[arg-type]


def test_format_insz() -> None:
    assert format_insz("85073003328") == "85.07.30-033.28"


# ---- properties -------------------------------------------------------------------------------------

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
counters = st.integers(min_value=1, max_value=998)
bis_modes = st.sampled_from([None, "sex_unknown", "sex_known"])


@given(dates, counters, bis_modes)
def test_make_validate_round_trip(birth: date, counter: int, bis: str | None) -> None:
    number = make_insz(birth, counter, bis=bis)  # type: ignore[arg-type]
    info = validate_insz(number)
    assert info.number == number
    assert info.kind == ("national_register" if bis is None else "bis")
    assert (info.birth_date, info.birth_year, info.birth_month) == (birth, birth.year, birth.month)
    expected_sex = None if bis == "sex_unknown" else ("M" if counter % 2 else "F")
    assert info.sex == expected_sex


@given(st.dates(min_value=date(1900, 1, 2), max_value=date(date.today().year, 12, 31)), counters, bis_modes)
def test_agrees_with_stdnum_for_past_years(birth: date, counter: int, bis: str | None) -> None:
    number = make_insz(birth, counter, bis=bis)  # type: ignore[arg-type]
    assert ssn.is_valid(number)
    assert ssn.get_birth_date(number) == birth
    assert ssn.get_gender(number) == validate_insz(number).sex


def _century(number: str) -> int:
    return 1900 if int(number[9:]) == insz_check_digits(number[:9], 1900) else 2000


@given(dates, counters, bis_modes, st.integers(0, 10), st.integers(1, 9))
def test_single_digit_errors_are_caught(
    birth: date, counter: int, bis: str | None, position: int, delta: int
) -> None:
    number = make_insz(birth, counter, bis=bis)  # type: ignore[arg-type]
    digit = (int(number[position]) + delta) % 10
    changed = number[:position] + str(digit) + number[position + 1 :]
    century = _century(number)
    # Within the century the number was made for, mod 97 catches every single-digit error ...
    assert int(changed[9:]) != insz_check_digits(changed[:9], century)  # type: ignore[arg-type]
    # ... and the only way to land on a valid number is the other century, via the year's units digit ±6.
    if is_valid_insz(changed):
        assert position == 1
        assert abs(int(changed[1]) - int(number[1])) == 6
        assert _century(changed) != century
        assert validate_insz(changed).birth_year != birth.year


@given(dates, counters, bis_modes, st.integers(0, 9))
def test_adjacent_transpositions_are_caught(
    birth: date, counter: int, bis: str | None, position: int
) -> None:
    number = make_insz(birth, counter, bis=bis)  # type: ignore[arg-type]
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    if swapped == number:
        return
    century = _century(number)
    assert int(swapped[9:]) != insz_check_digits(swapped[:9], century)  # type: ignore[arg-type]
    if is_valid_insz(swapped):  # only month or day digits swapped, into the other century
        assert position in (2, 4)
        assert _century(swapped) != century


@given(st.text())
def test_random_text_only_raises_invalid_identifier(text: str) -> None:
    try:
        outcome = validate_insz(text).number
    except InvalidIdentifier as exc:
        outcome = exc.reason
    assert outcome


@given(st.text(alphabet="0123456789 .-", max_size=16))
def test_random_digit_strings_only_raise_invalid_identifier(text: str) -> None:
    try:
        validate_insz(text)
    except InvalidIdentifier as exc:
        reason = exc.reason
    else:
        reason = "valid"
    assert reason
