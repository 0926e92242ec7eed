"""The named rules of ``rights.yaml`` as date arithmetic, and quarters (``20264`` = 2026 Q4).

Kept apart from the engine so that every rule is a pure function a test can pin down.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

StartRule = Literal["status_start", "quarter_start", "month_start"]
EndRule = Literal["status_end", "quarter_end", "end_of_year"]


def quarter_of(day: dt.date) -> int:
    """The quarter ``YYYYQ`` a day falls in."""
    return day.year * 10 + (day.month - 1) // 3 + 1


def quarter_bounds(quarter: int) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter ``YYYYQ``; ``ValueError`` when it is not one."""
    year, q = divmod(quarter, 10)
    if not (1 <= q <= 4 and 1900 <= year <= 2999):
        raise ValueError(f"{quarter} is not a quarter: write YYYYQ, e.g. 20264")
    first = dt.date(year, 3 * q - 2, 1)
    last = dt.date(year + 1, 1, 1) if q == 4 else dt.date(year, 3 * q + 1, 1)
    return first, last - dt.timedelta(days=1)


def right_start(rule: StartRule, status_start: dt.date) -> dt.date:
    """When a right opened by a status starting on ``status_start`` starts."""
    if rule == "quarter_start":
        return quarter_bounds(quarter_of(status_start))[0]
    if rule == "month_start":
        return status_start.replace(day=1)
    return status_start


def right_end(rule: EndRule, status_end: dt.date | None) -> dt.date | None:
    """When a right opened by a status ending on ``status_end`` (None: open) ends (None: open)."""
    if status_end is None:
        return None
    if rule == "quarter_end":
        return quarter_bounds(quarter_of(status_end))[1]
    if rule == "end_of_year":
        return dt.date(status_end.year, 12, 31)
    return status_end
