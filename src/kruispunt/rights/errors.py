"""Errors of the rights domain: one exception carrying a stable code, so an API can answer with it."""

from __future__ import annotations


class RightsError(ValueError):
    """A request the rights domain cannot honour; ``code`` is stable (e.g. ``UNKNOWN_STATUS``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
