"""Contributions recomputed from the declared wages, to compare with what the employer declared.

The rates are data (``data/contributions.yaml``) and a **simplified model** of the RSZ's (see the header of
that file): per worker code (annex 2) a basis in percent of the gross pay subject to contributions (108% for
blue-collar workers) and a rate. Amounts are eurocents, rounded half up, in integers only (no float ever
touches money).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Rate:
    worker_code: str
    contribution_type: int
    basis_percent: int
    rate_bp: int
    label: str


@dataclass(frozen=True, slots=True)
class Model:
    version: str
    tolerance_cents: int
    subject_codes: frozenset[int]
    rates: Mapping[str, Rate]


@dataclass(frozen=True, slots=True)
class Computed:
    """What the model says a worker line owes."""

    worker_code: str
    contribution_type: int
    basis_cents: int
    amount_cents: int


def _load(data: Mapping[str, Any]) -> Model:
    rates = {
        str(code): Rate(
            worker_code=str(code),
            contribution_type=int(r["type"]),
            basis_percent=int(r["basis_percent"]),
            rate_bp=int(r["rate_bp"]),
            label=str(r.get("label", "")),
        )
        for code, r in (data.get("worker_codes") or {}).items()
    }
    return Model(
        version=str(data["version"]),
        tolerance_cents=int(data.get("tolerance_cents", 1)),
        subject_codes=frozenset(int(c) for c in data["subject_remuneration_codes"]),
        rates=rates,
    )


@cache
def model() -> Model:
    """The model of ``data/contributions.yaml``, read once."""
    text = (resources.files("kruispunt.employers") / "data" / "contributions.yaml").read_text("utf-8")
    return _load(yaml.safe_load(text))


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def subject_gross(remunerations: Iterable[Mapping[str, Any]], m: Model | None = None) -> int:
    """The sum of the remunerations whose code (annex 7) is subject to the ordinary contributions."""
    codes = (m or model()).subject_codes
    return sum(int(r.get("RemunAmount") or 0) for r in remunerations if int(r.get("RemunCode", -1)) in codes)


def compute(worker_code: str, gross_cents: int, m: Model | None = None) -> Computed | None:
    """The contribution the model expects for ``gross_cents`` subject to contributions; None when the
    model has no rate for that worker code (nothing to compare)."""
    rate = (m or model()).rates.get(worker_code)
    if rate is None:
        return None
    basis = round_half_up(gross_cents * rate.basis_percent, 100)
    amount = round_half_up(basis * rate.rate_bp, 10_000)
    return Computed(worker_code, rate.contribution_type, basis, amount)
