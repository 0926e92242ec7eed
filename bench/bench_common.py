"""What every benchmark shares: the machine description and the one-line report."""

from __future__ import annotations

import json
import os
import platform
from typing import Any


def machine() -> dict[str, Any]:
    """Where the numbers were measured (recorded with every result)."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def print_result(result: dict[str, Any], *, as_json: bool, summary: str) -> None:
    """One JSON object on one line (``--json``), or a sentence for people."""
    print(json.dumps(result, separators=(",", ":")) if as_json else summary)
