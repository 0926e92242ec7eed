"""A background thread that works in rounds: a round does what is due; when it finds nothing, the thread
sleeps until woken or until the next poll. Outbox workers (a source's change publisher, the employers'
delivery worker) are such threads; a failed round is logged and retried, never the end of the thread."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class PollingThread(ABC):
    """Subclasses give :meth:`run_once` (how many items a round handled) and may change :meth:`idle_wait`."""

    thread_name = "kruispunt-worker"
    join_timeout_s = 10.0

    def __init__(self, *, idle_s: float) -> None:
        self.idle_s = idle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def run_once(self) -> int:
        """One round; how many items it handled (0: nothing due, sleep)."""

    def idle_wait(self, failures: int) -> float:
        """Seconds to sleep after an empty or failed round (``failures`` in a row so far)."""
        return self.idle_s

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Start a round now (something was just queued)."""
        self._wake.set()

    def stop(self) -> None:
        """End the thread after its current round."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout_s)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                done = self.run_once()
                failures = 0
            except Exception:  # a broken round must not end the thread: it is logged and retried
                failures += 1
                log.exception("%s: round failed (%d in a row); retrying", self.thread_name, failures)
                done = 0
            if done == 0:
                self._wake.wait(self.idle_wait(failures))
                self._wake.clear()
