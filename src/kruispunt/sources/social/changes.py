"""A social source publishes its changes of status to the network (the automatic communication of changes).

Every file opened, amended, closed or cancelled queues a ``status.*`` change in the file's own transaction
(:func:`queue_status_change`); the outbox and its publisher are those of every source
(:mod:`kruispunt.sources.changes`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from kruispunt.sources import changes
from kruispunt.sources.social.models import change_outbox_table


def queue_status_change(
    conn: Connection,
    *,
    change_type: str,
    holder: str,
    insz: str,
    kind: str,
    file_key: str,
    start: dt.date | None,
    end: dt.date | None,
    attrs: Mapping[str, Any] | None,
    effective: dt.date,
) -> None:
    """Queue a change of status in the caller's transaction (its change id is given when it is sent)."""
    changes.queue_change(
        conn,
        change_outbox_table,
        {
            "source": holder,
            "type": change_type,
            "insz": insz,
            "effective": effective.isoformat(),
            "data": {
                "kind": kind,
                "file_key": file_key,
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
                "attrs": dict(attrs or {}),
            },
        },
    )


def pending(conn: Connection, *, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
    return changes.pending(conn, change_outbox_table, limit=limit)


def counts(conn: Connection) -> dict[str, int]:
    return changes.counts(conn, change_outbox_table)


def publisher(
    engines: Sequence[Engine], url: str, *, client: httpx.Client | None = None
) -> changes.ChangePublisher:
    """The publisher of social source databases."""
    return changes.ChangePublisher(engines, url, table=change_outbox_table, client=client)
