"""The one exception every validator in :mod:`kruispunt.ids` raises.

A single ``ValueError`` subclass lets callers (and pydantic validators) catch every bad identifier the same
way, while ``reason`` carries the human-readable explanation that ends up in API and CLI answers.
"""

from __future__ import annotations


class InvalidIdentifier(ValueError):
    """An identification number is not valid; ``reason`` says exactly why.

    ``kind`` is the identifier kind that was being validated (e.g. ``"enterprise"``), when known.
    """

    def __init__(self, reason: str, *, kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
