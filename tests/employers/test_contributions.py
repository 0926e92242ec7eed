"""The contribution model: the basis (108% for blue-collar workers), the rate, rounding in integer cents."""

from __future__ import annotations

from importlib import resources

import pytest

from kruispunt.employers import contributions
from kruispunt.employers.contributions import compute, round_half_up, subject_gross


def test_blue_collar_basis_is_108_percent_of_gross() -> None:
    got = compute("015", 100_000)
    assert got is not None
    assert got.basis_cents == 108_000
    assert got.amount_cents == 41_116  # 108000 × 38.07% = 41115.6 → rounded half up
    assert got.contribution_type == 0


def test_white_collar_basis_is_the_gross() -> None:
    got = compute("495", 250_050)
    assert got is not None
    assert got.basis_cents == 250_050
    assert got.amount_cents == round_half_up(250_050 * 3807, 10_000)


def test_unknown_worker_code_has_no_rate() -> None:
    assert compute("999", 100_000) is None
    assert compute("840", 100_000) is None  # student solidarity contribution: not in the model


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"), [(5, 10, 1), (4, 10, 0), (15, 10, 2), (0, 7, 0), (149, 100, 1)]
)
def test_round_half_up(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_up(numerator, denominator) == expected


def test_subject_gross_leaves_out_codes_not_subject() -> None:
    remunerations = [
        {"RemunCode": 1, "RemunAmount": 300_000},
        {"RemunCode": 11, "RemunAmount": 50_000},  # departure holiday pay not subject to contributions
        {"RemunCode": 2, "RemunAmount": 10_000},
    ]
    assert subject_gross(remunerations) == 310_000


def test_the_data_file_says_it_is_a_simplified_model() -> None:
    text = (resources.files("kruispunt.employers") / "data" / "contributions.yaml").read_text("utf-8")
    assert "SIMPLIFIED MODEL" in text
    model = contributions.model()
    assert model.rates["015"].basis_percent == 108
    assert model.rates["495"].basis_percent == 100
    assert model.tolerance_cents == 1
