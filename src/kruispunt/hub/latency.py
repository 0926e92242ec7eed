"""How long the hub takes to answer, per process: a fixed-bucket histogram, cheap enough for every message.

Why buckets and not a list of durations: one bisect and one increment per message, constant memory, and
percentiles that are good to the bucket's width (which doubles, 0.5 ms … 5 s): enough for an operator who
asks "are we slow, and since when?". Two histograms: since the process started, and the last full minute
plus the one running (so the view shows now, not the average of a day).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from typing import Any

BOUNDS_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
"""Upper bounds of the buckets in milliseconds; a last bucket holds everything slower."""


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS_MS) + 1)
        self.total = 0
        self.max_ms = 0.0

    def observe(self, ms: float) -> None:
        self.counts[bisect.bisect_left(BOUNDS_MS, ms)] += 1
        self.total += 1
        self.max_ms = max(self.max_ms, ms)

    def add(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.max_ms = max(self.max_ms, other.max_ms)

    def percentile(self, p: float) -> float | None:
        """The upper bound of the bucket holding the ``p`` quantile (the maximum for the last bucket)."""
        if not self.total:
            return None
        rank = p * self.total
        seen = 0
        for i, count in enumerate(self.counts):
            seen += count
            if seen >= rank and count:
                return BOUNDS_MS[i] if i < len(BOUNDS_MS) else round(self.max_ms, 1)
        return round(self.max_ms, 1)

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.total,
            "p50_ms": self.percentile(0.50),
            "p90_ms": self.percentile(0.90),
            "p99_ms": self.percentile(0.99),
            "max_ms": round(self.max_ms, 1) if self.total else None,
        }


class Latency:
    """The hub's answer times: since start, and over the last minute (the previous full one + this one)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.since_start = Histogram()
        self._minute = int(clock() // 60)
        self._current = Histogram()
        self._previous = Histogram()

    def _roll(self) -> None:
        minute = int(self.clock() // 60)
        if minute != self._minute:
            self._previous = self._current if minute == self._minute + 1 else Histogram()
            self._current = Histogram()
            self._minute = minute

    def observe(self, ms: float) -> None:
        self._roll()
        self._current.observe(ms)
        self.since_start.observe(ms)

    def summary(self) -> dict[str, Any]:
        self._roll()
        recent = Histogram()
        recent.add(self._previous)
        recent.add(self._current)
        return {"last_minute": recent.summary(), "since_start": self.since_start.summary()}
