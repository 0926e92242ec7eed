"""The hub's latency histogram: percentiles to the bucket, the last minute apart from the whole run."""

from __future__ import annotations

from kruispunt.hub.latency import Histogram, Latency


class Clock:
    def __init__(self) -> None:
        self.now = 6000.0

    def __call__(self) -> float:
        return self.now


def test_percentiles_are_bucket_bounds() -> None:
    h = Histogram()
    assert h.summary() == {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    for ms in [0.3] * 50 + [3.0] * 45 + [700.0] * 5:
        h.observe(ms)
    assert (h.percentile(0.5), h.percentile(0.9), h.percentile(0.99)) == (0.5, 5, 1000)
    h.observe(12_000)
    assert h.summary()["max_ms"] == 12_000
    assert h.percentile(1.0) == 12_000


def test_the_last_minute_forgets_what_is_older() -> None:
    clock = Clock()
    latency = Latency(clock)
    for _ in range(10):
        latency.observe(1500)
    clock.now += 60
    latency.observe(1.5)
    summary = latency.summary()
    assert summary["last_minute"]["count"] == 11  # the previous full minute and this one
    clock.now += 60
    latency.observe(1.5)
    summary = latency.summary()
    assert summary["last_minute"]["count"] == 2
    assert summary["last_minute"]["p99_ms"] == 2
    assert summary["since_start"]["count"] == 12
    assert summary["since_start"]["p99_ms"] == 2000
    clock.now += 600
    assert latency.summary()["last_minute"]["count"] == 0
