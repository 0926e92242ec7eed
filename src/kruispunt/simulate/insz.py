"""Vectorised INSZ numbering for the simulation (DOMAIN.md §4.1).

``YYMMDD NNN CC``: birth date (month + 20 for bis numbers with sex unknown, + 40 with sex known; unknown
month/day as 00), a day counter (odd = male, even = female; any value when the sex is unknown) and
``CC = 97 - (first 9 digits mod 97)``, computed over ``"2" + first 9 digits`` for births from 2000 on.

Counters are handed out by rank within (birth date, kind) in population order, continuing across blocks
through :class:`CounterState`, so every number is unique. When the 499 counters of one sex on one date run
out, the person gets month and day ``00`` and the counter restarts there (the real register's rule).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]

# Kinds of counter space.
KIND_NR_M, KIND_NR_F, KIND_BIS_M, KIND_BIS_F, KIND_BIS_UNKNOWN = 0, 1, 2, 3, 4
_KINDS = 5
_YEAR0, _YEARS = 1850, 250  # birth years 1850..2099
_DATE_KEYS = _YEARS * 13 * 32  # (year, month 0..12, day 0..31)
_MONTH_OFFSET = np.array([0, 0, 40, 40, 20], dtype=np.int64)
_FIRST_COUNTER = np.array([1, 2, 1, 2, 1], dtype=np.int64)
_STEP = np.array([2, 2, 2, 2, 1], dtype=np.int64)
_MAX_RANK = np.array([498, 498, 498, 498, 997], dtype=np.int64)  # counters up to 997 (M) / 998 (F, unknown)


def counter_kind(is_bis: Array, sex: Array) -> Array:
    """Counter space of each person: sex 1 = M, 2 = F, 0 = unknown (bis numbers only)."""
    kind = np.where(sex == 2, KIND_NR_F, KIND_NR_M).astype(np.int64)
    kind = np.where(is_bis, np.where(sex == 0, KIND_BIS_UNKNOWN, kind + 2), kind)
    if np.any((sex == 0) & ~is_bis):
        raise ValueError("a national-register number needs a known sex")
    return kind


class CounterState:
    """How many counters each (kind, birth date) has handed out so far, across blocks."""

    def __init__(self) -> None:
        self.used = np.zeros(_KINDS * _DATE_KEYS, dtype=np.int64)

    def _rank(self, keys: Array) -> Array:
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        new_group = np.ones(len(keys), dtype=bool)
        new_group[1:] = sorted_keys[1:] != sorted_keys[:-1]
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(keys)), 0))
        rank_sorted = np.arange(len(keys)) - group_start + self.used[sorted_keys]
        rank = np.empty(len(keys), dtype=np.int64)
        rank[order] = rank_sorted
        unique, counts = np.unique(sorted_keys, return_counts=True)
        self.used[unique] += counts
        return rank

    def assign(self, kind: Array, year: Array, month: Array, day: Array) -> tuple[Array, Array, Array]:
        """Counters for people in population order; returns (counter, encoded month, encoded day).

        ``month``/``day`` 0 mean unknown. Raises when even the month-00 fallback of a year runs out.
        """
        if len(kind) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        if np.any((year < _YEAR0) | (year >= _YEAR0 + _YEARS)):
            raise ValueError(f"birth years must lie in {_YEAR0}..{_YEAR0 + _YEARS - 1}")
        month = month.astype(np.int64).copy()
        day = day.astype(np.int64).copy()
        rank = self._rank(self._key(kind, year, month, day))
        full = rank > _MAX_RANK[kind]
        if np.any(full):
            month[full] = 0
            day[full] = 0
            rank[full] = self._rank(self._key(kind[full], year[full], month[full], day[full]))
            over = rank[full] - _MAX_RANK[kind[full]]
            if np.any(over > 0):
                worst = int(np.argmax(over))
                raise ValueError(f"INSZ counters exhausted for birth year {int(year[full][worst])}")
        counter = _FIRST_COUNTER[kind] + _STEP[kind] * rank
        return counter, month + _MONTH_OFFSET[kind], day

    @staticmethod
    def _key(kind: Array, year: Array, month: Array, day: Array) -> Array:
        date_key = ((year.astype(np.int64) - _YEAR0) * 13 + month) * 32 + day
        return kind.astype(np.int64) * _DATE_KEYS + date_key


def insz_numbers(year: Array, month_encoded: Array, day_encoded: Array, counter: Array) -> Array:
    """The 11-digit numbers as int64 (check digits with the century rule)."""
    base9 = (
        (year.astype(np.int64) % 100) * 10_000_000 + month_encoded * 100_000 + day_encoded * 1_000 + counter
    )
    century = np.where(year >= 2000, 2_000_000_000, 0).astype(np.int64)
    check = 97 - (base9 + century) % 97
    return np.asarray(base9 * 100 + check)


def format_numbers(numbers: Array, width: int = 11) -> Array:
    """Zero-padded decimal strings of an int64 array."""
    return np.asarray(np.char.zfill(numbers.astype(f"U{width}"), width))


def mod97_card(base: Array, *, complement: bool) -> Array:
    """Append two mod-97 check digits: ``97 - base % 97`` or ``base % 97`` (0 → 97)."""
    rest = base % 97
    check = 97 - rest if complement else np.where(rest == 0, 97, rest)
    return np.asarray(base * 100 + check)
