"""A source publishes the changes it records to the network (the automatic communication of changes).

One outbox for every source (the social sources, the National Register, the bis register): a write that
records a change also queues it in its database's ``change_outbox`` (:func:`queue_change`), in the write's own
transaction, so a change is published if and only if the write is kept. :class:`ChangePublisher` (a thread of
the source's process) sends what is pending, in order, in batches per publishing institution, to
``POST /mutations/changes``, until it is answered; the change id (``<source>-<outbox id>``) makes a repeated
send harmless. A change the service refuses is kept as ``refused`` with the reason (it would be refused
again), and the publisher goes on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from kruispunt.core.loops import PollingThread
from kruispunt.core.tables import BIG_ID

OUTBOX = "change_outbox"
_JSON = JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def outbox_table(metadata: MetaData) -> Table:
    """The ``change_outbox`` of a source's database: the changes to publish, in the order written."""
    return Table(
        OUTBOX,
        metadata,
        Column("id", BIG_ID, primary_key=True, autoincrement=True),
        Column(
            "source", String(10), nullable=False, comment="KBO of the publishing institution (the holder)"
        ),
        Column("change", _JSON, nullable=False, comment="the change as published"),
        Column("state", String(8), nullable=False, comment="pending | done | refused"),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("last_error", Text, nullable=True),
        Index("ix_change_outbox_state", "state", "id"),
    )


def create_outbox(op: Any) -> None:
    """Migration step (alembic ``op``): create the outbox as :func:`outbox_table` describes it. Shared by
    every source's revision that adds it; a later change of its shape is a new revision, not an edit here."""
    op.create_table(
        OUTBOX,
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column(
            "source",
            sa.String(length=10),
            nullable=False,
            comment="KBO of the publishing institution (the holder)",
        ),
        sa.Column("change", _JSON, nullable=False, comment="the change as published"),
        sa.Column("state", sa.String(length=8), nullable=False, comment="pending | done | refused"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_outbox")),
    )
    with op.batch_alter_table(OUTBOX, schema=None) as batch_op:
        batch_op.create_index("ix_change_outbox_state", ["state", "id"], unique=False)


def drop_outbox(op: Any) -> None:
    """Migration step (alembic ``op``): the downgrade of :func:`create_outbox`."""
    with op.batch_alter_table(OUTBOX, schema=None) as batch_op:
        batch_op.drop_index("ix_change_outbox_state")
    op.drop_table(OUTBOX)


def change_id(source: str, outbox_id: int) -> str:
    """The id a change is published with: unique per source, the same at every send."""
    return f"{source}-{outbox_id}"


def queue_change(conn: Connection, table: Table, change: Mapping[str, Any]) -> str:
    """Queue ``change`` (a change as published, without its ``change_id``: it is given when sent) in the
    caller's transaction; the change id it will be published with."""
    outbox_id = conn.execute(
        insert(table)
        .values(source=change["source"], change=dict(change), state="pending", created_at=utc_now())
        .returning(table.c.id)
    ).scalar_one()
    return change_id(str(change["source"]), int(outbox_id))


def person_change(
    *, source: str, change_type: str, insz: str, effective: dt.date, data: Mapping[str, Any]
) -> dict[str, Any]:
    """A change about a person recorded by a register (``address.changed``, ``household.changed``,
    ``person.died``, ``insz.replaced``, ``insz.cancelled``), recorded now."""
    return {
        "source": source,
        "type": change_type,
        "insz": insz,
        "effective": effective.isoformat(),
        "occurred_at": utc_now().isoformat(),
        "data": dict(data),
    }


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pending(conn: Connection, table: Table, *, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
    """The oldest pending changes: (outbox id, source, change)."""
    o = table.c
    query = select(o.id, o.source, o.change).where(o.state == "pending").order_by(o.id).limit(limit)
    rows = conn.execute(query)
    return [(int(i), str(s), dict(c)) for i, s, c in rows]


def counts(conn: Connection, table: Table) -> dict[str, int]:
    """How many changes are in each state."""
    o = table.c
    return {str(s): int(n) for s, n in conn.execute(select(o.state, func.count()).group_by(o.state))}


class ChangePublisher(PollingThread):
    """Sends the pending changes of one or more source databases (their outbox: ``table``) to the mutations
    service; while the service does not answer, it backs off (up to 30 s)."""

    thread_name = "kruispunt-change-publisher"

    def __init__(
        self,
        engines: Sequence[Engine],
        url: str,
        *,
        table: Table,
        batch: int = 500,
        poll_s: float = 1.0,
        client: httpx.Client | None = None,
    ) -> None:
        super().__init__(idle_s=poll_s)
        self.engines = list(engines)
        self.url = url.rstrip("/")
        self.table = table
        self.batch = batch
        self.poll_s = poll_s
        self.client = client or httpx.Client(timeout=30)

    def stop(self) -> None:
        super().stop()
        self.client.close()

    def run_once(self) -> int:
        return sum(self.publish_once(engine) for engine in self.engines)

    def idle_wait(self, failures: int) -> float:
        return min(30.0, self.poll_s * float(2 ** min(failures, 5)))

    def publish_once(self, engine: Engine) -> int:
        """Send one batch per publishing institution of ``engine``'s pending changes; how many were sent."""
        with engine.connect() as conn:
            rows = pending(conn, self.table, limit=self.batch)
        if not rows:
            return 0
        first_source = rows[0][1]
        rows = [r for r in rows if r[1] == first_source]  # one institution per request, in order
        changes = [{**change, "change_id": change_id(source, i)} for i, source, change in rows]
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
        o = self.table.c
        with engine.begin() as conn:
            for (outbox_id, _, _), result in zip(rows, results, strict=True):
                error = result.get("error")
                conn.execute(
                    update(self.table)
                    .where(o.id == outbox_id)
                    .values(
                        state="refused" if error else "done",
                        last_error=f"{error.get('code')}: {error.get('message')}" if error else None,
                    )
                )
        return len(rows)
