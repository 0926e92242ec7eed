"""The polling thread: rounds until stopped, woken at once, a failed round retried rather than fatal."""

from __future__ import annotations

import time
from collections.abc import Callable

from kruispunt.core.loops import PollingThread


class _Counting(PollingThread):
    thread_name = "test-loop"

    def __init__(self) -> None:
        super().__init__(idle_s=30.0)
        self.rounds = 0
        self.failures_seen: list[int] = []

    def run_once(self) -> int:
        self.rounds += 1
        if self.rounds == 1:
            raise RuntimeError("a broken round")
        return 0

    def idle_wait(self, failures: int) -> float:
        self.failures_seen.append(failures)
        return super().idle_wait(failures)


def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_failed_round_is_retried_and_wake_starts_a_round_at_once() -> None:
    loop = _Counting()
    loop.start()
    try:
        _wait_for(lambda: loop.failures_seen == [1])  # the failure did not end the thread; it sleeps 30 s
        loop.wake()
        _wait_for(lambda: loop.rounds == 2 and loop.failures_seen == [1, 0])
    finally:
        loop.stop()
    assert loop._thread is not None
    assert not loop._thread.is_alive()
