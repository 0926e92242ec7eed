"""What every route of the employers service works with: its database, the declarations log, the clock,
and where the network is (the hub, the RSZ source). One object, built by :func:`api.create_app` (or by a
test), handed to each router factory (``dimona_api.router(ctx)`` …)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from kruispunt.employers.service import DeclarationLog
from kruispunt.trust.receiver import SignedCallers


def _today() -> dt.date:
    return dt.date.today()


@dataclass
class EmployersContext:
    engine: Engine
    log: DeclarationLog
    hub_url: str | None = None
    rsz_url: str | None = None
    today: Callable[[], dt.date] = field(default=_today)
    max_file_bytes: int = 512 * 1024 * 1024
    """Largest XML file accepted (streamed to disk, never held in memory)."""
    spool_dir: str | None = None
    """Where uploaded files are spooled while they are read (default: the system's temporary folder)."""
    career_callers: SignedCallers | None = None
    """Who may read a person's career: the KSZ, signed, naming that person (None: no CA, the route
    answers 503)."""
    closers: list[Callable[[], None]] = field(default_factory=list)
    """What a router started and the service stops when it stops (the Dimona writer's thread)."""
