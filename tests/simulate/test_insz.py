"""Vectorised INSZ numbering: check digits with the century rule, counters, exhaustion fallback."""

from __future__ import annotations

import numpy as np
from stdnum.be import bis, nn

from kruispunt.simulate.insz import (
    KIND_BIS_F,
    KIND_BIS_M,
    KIND_BIS_UNKNOWN,
    KIND_NR_F,
    KIND_NR_M,
    CounterState,
    format_numbers,
    insz_numbers,
)


def _numbers(state: CounterState, kind: int, year: int, month: int, day: int, count: int) -> list[str]:
    kinds = np.full(count, kind)
    years, months, days = np.full(count, year), np.full(count, month), np.full(count, day)
    counter, m, d = state.assign(kinds, years, months, days)
    return format_numbers(insz_numbers(years, m, d, counter)).tolist()


def test_known_vectors() -> None:
    # DOMAIN.md §4.1 test vectors: 85073003328 (1985, counter 033) and 17073003384 (2017, "2" prefix)
    numbers = insz_numbers(np.array([1985, 2017]), np.array([7, 7]), np.array([30, 30]), np.array([33, 33]))
    assert format_numbers(numbers).tolist() == ["85073003328", "17073003384"]


def test_counters_by_sex_and_register() -> None:
    state = CounterState()
    men = _numbers(state, KIND_NR_M, 1990, 5, 17, 3)
    women = _numbers(state, KIND_NR_F, 1990, 5, 17, 3)
    assert [n[6:9] for n in men] == ["001", "003", "005"]
    assert [n[6:9] for n in women] == ["002", "004", "006"]
    assert [n[6:9] for n in _numbers(state, KIND_NR_M, 1990, 5, 17, 1)] == ["007"]  # continues across calls
    bis_m = _numbers(state, KIND_BIS_M, 1990, 5, 17, 2)
    bis_u = _numbers(state, KIND_BIS_UNKNOWN, 1990, 5, 17, 2)
    assert [n[2:4] for n in bis_m] == ["45", "45"]
    assert [n[2:4] for n in bis_u] == ["25", "25"]
    assert [n[6:9] for n in bis_u] == ["001", "002"]
    assert all(nn.is_valid(n) for n in men + women)
    assert all(bis.is_valid(n) for n in bis_m + bis_u)


def test_exhausted_day_falls_back_to_month_00() -> None:
    state = CounterState()
    numbers = _numbers(state, KIND_NR_F, 2004, 2, 29, 600)
    assert len(set(numbers)) == 600
    assert all(nn.is_valid(n) for n in numbers)
    assert sum(n.startswith("040229") for n in numbers) == 499
    assert sum(n.startswith("040000") for n in numbers) == 101
    more = _numbers(state, KIND_BIS_F, 2004, 0, 0, 3)
    assert all(n.startswith("044000") and bis.is_valid(n) for n in more)
