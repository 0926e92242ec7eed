"""Limits on what one institution may send: a rate (messages per second, with a burst) and, where a
deliberation sets one, a daily quota under that deliberation.

Why in the hub: one institution's runaway batch job must not slow the network for the others, and a
deliberation that authorises "a few hundred consultations a day" is not an authorisation for a million.
A refusal is a 429 with ``Retry-After`` (seconds): when a token is free again, or the next day (UTC).

Per process: each hub worker keeps its own buckets and counters, so with N workers the network-wide rate is
up to N times the configured one (the quota too). A shared store would make them exact; the figures here
are a guard, not an invoice.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per institution: ``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """``None`` when ``key`` may send now (one token taken); else the seconds until it may."""
        if self.rate <= 0:
            return None
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._buckets.clear()
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return (1 - bucket.tokens) / self.rate


class DailyQuota:
    """Messages per (institution, deliberation) per UTC day."""

    def __init__(self, *, today: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.today = today
        self._day: date | None = None
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def take(self, institution: str, deliberation: str, limit: int) -> int | None:
        """``None`` when one more message is within ``limit`` today (counted); else seconds to midnight."""
        now = self.today()
        with self._lock:
            if now.date() != self._day:
                self._day = now.date()
                self._counts.clear()
            key = (institution, deliberation)
            used = self._counts.get(key, 0)
            if used >= limit:
                midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
                return max(1, math.ceil((midnight - now).total_seconds()))
            self._counts[key] = used + 1
            return None
