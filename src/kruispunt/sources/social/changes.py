"""A social source publishes its changes of status to the network (the automatic communication of changes).

Every file opened, amended, closed or cancelled writes a change to ``change_outbox`` in the file's own
transaction (:func:`queue_status_change`): a change is published if and only if the file change is kept.
:class:`ChangePublisher` (a thread of the source's process) sends what is pending, in order, in batches per
publishing institution, to ``POST /mutations/changes``, until it is answered; the change id
(``<holder>-<outbox id>``) makes a repeated send harmless. A change the service refuses is kept as
``refused`` with the reason (it would be refused again), and the publisher goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, insert, select, update

from kruispunt.sources.social.models import change_outbox_table

log = logging.getLogger(__name__)

_o = change_outbox_table.c


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
    conn.execute(
        insert(change_outbox_table).values(
            source=holder,
            change={
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
            state="pending",
            created_at=dt.datetime.now(dt.UTC),
        )
    )


def pending(conn: Connection, *, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
    rows = conn.execute(
        select(_o.id, _o.source, _o.change).where(_o.state == "pending").order_by(_o.id).limit(limit)
    )
    return [(int(i), str(s), dict(c)) for i, s, c in rows]


def counts(conn: Connection) -> dict[str, int]:
    from sqlalchemy import func

    return {str(s): int(n) for s, n in conn.execute(select(_o.state, func.count()).group_by(_o.state))}


class ChangePublisher:
    """Sends the pending changes of one or more source databases to the mutations service."""

    def __init__(
        self,
        engines: Sequence[Engine],
        url: str,
        *,
        batch: int = 500,
        poll_s: float = 1.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.engines = list(engines)
        self.url = url.rstrip("/")
        self.batch = batch
        self.poll_s = poll_s
        self.client = client or httpx.Client(timeout=30)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kruispunt-change-publisher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.client.close()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                sent = sum(self.publish_once(engine) for engine in self.engines)
                failures = 0
            except (httpx.HTTPError, OSError) as exc:
                failures += 1
                log.warning("publishing changes failed (%s); retrying", exc)
                sent = 0
            if sent == 0:
                self._wake.wait(min(30.0, self.poll_s * (2 ** min(failures, 5))))
                self._wake.clear()

    def publish_once(self, engine: Engine) -> int:
        """Send one batch per publishing institution of ``engine``'s pending changes; how many were sent."""
        with engine.connect() as conn:
            rows = pending(conn, limit=self.batch)
        if not rows:
            return 0
        first_source = rows[0][1]
        rows = [r for r in rows if r[1] == first_source]  # one institution per request, in order
        changes = [{**change, "change_id": f"{source}-{i}"} for i, source, change in rows]
        response = self.client.post(
            f"{self.url}/mutations/changes",
            json={"changes": changes},
            headers={"X-Kruispunt-Institution": first_source},
        )
        if response.status_code not in (200, 422):
            response.raise_for_status()
            raise httpx.HTTPError(f"HTTP {response.status_code}")
        results = response.json().get("results")
        if not isinstance(results, list) or len(results) != len(rows):
            raise httpx.HTTPError(f"unexpected answer: {response.text[:300]}")
        with engine.begin() as conn:
            for (outbox_id, _, _), result in zip(rows, results, strict=True):
                error = result.get("error")
                conn.execute(
                    update(change_outbox_table)
                    .where(_o.id == outbox_id)
                    .values(
                        state="refused" if error else "done",
                        last_error=f"{error.get('code')}: {error.get('message')}" if error else None,
                    )
                )
        return len(rows)
