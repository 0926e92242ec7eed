"""The canonical JSON form used for hashing and signing.

Fixed once, before the first audit entry was written: UTF-8, keys sorted, no insignificant whitespace,
non-ASCII kept as UTF-8, integers as integers, no floats (callers pass amounts as integers or strings).
Changing it would break every existing hash chain, so it must never change.
"""

from __future__ import annotations

from typing import Any

import orjson


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to its canonical bytes (orjson with sorted keys, compact separators)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
