"""Change notifications: receive a source's changes, fan them out to their subscribers, keep each
recipient's position.

:func:`receive` is the whole intake of a batch, in the caller's transaction: each change is checked, a
change already received (same source and change id, same content) is answered with its first ``seq``, a
reused change id with other content is refused, and for the others the recipients are found (the
subscriptions × the persons-directory lines of the person on the day of receipt) and one ``delivery`` row
is written per recipient — the outbox, committed with the change or not at all.

Order: changes are numbered (``seq``) and their deliveries numbered (``id``) in the order they are written,
and writers take turns (the transaction's first write on SQLite, an advisory lock on PostgreSQL), so a
recipient's deliveries are in ``seq`` order and a reader of the feed never sees a later one before an
earlier one commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, delete, func, insert, select, text, update

from kruispunt.mutations.definitions import Line, Subscriptions
from kruispunt.mutations.models import (
    change_table,
    dead_letter_table,
    delivery_table,
    recipient_table,
    relay_position_table,
    relayed_message_table,
)
from kruispunt.mutations.schemas import CHANGE_ADAPTER, Change, StatusChange

INGEST_LOCK = 0x6B70_6D75  # "kpmu": the PostgreSQL advisory lock the writers of changes take turns on

DirectoryLookup = Callable[[Sequence[str], dt.date], Mapping[str, Sequence[tuple[str, int, int]]]]
"""``(inszs, day) → {insz: [(institution, sector, capacity), …]}``: the persons directory's active lines."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    aware = _aware(value)
    return aware.isoformat() if aware else None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as UTC (SQLite gives it back without its zone)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Accepted:
    index: int
    seq: int
    change_id: str
    recipients: int
    duplicate: bool = False
    to: tuple[str, ...] = ()
    """The recipients the fan-out wrote (empty for a duplicate: they were written the first time)."""


@dataclass(frozen=True, slots=True)
class Refused:
    index: int
    code: str
    message: str
    errors: list[dict[str, Any]] = field(default_factory=list)


Outcome = Accepted | Refused


def parse_changes(items: Sequence[Any]) -> list[Change | Refused]:
    """Check each item of a batch against the change schemas: the change, or why it is refused."""
    out: list[Change | Refused] = []
    for index, item in enumerate(items):
        try:
            out.append(CHANGE_ADAPTER.validate_python(item))
        except ValidationError as exc:
            errors = [
                {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False, include_context=False)
            ]
            out.append(Refused(index, "INVALID_CHANGE", "the change does not match its schema", errors))
    return out


def _kind(change: Change) -> str | None:
    return change.data.kind if isinstance(change, StatusChange) else None


def _same(stored: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """The same change published again (``occurred_at`` may be filled in by the network at receipt)."""
    keep = {k: v for k, v in stored.items() if k != "occurred_at"}
    new = {k: v for k, v in body.items() if k != "occurred_at"}
    return keep == new


_CHANGE_COLUMNS = (
    "seq",
    "source_kbo",
    "change_id",
    "type",
    "insz",
    "effective",
    "received_at",
    "body",
    "recipients",
)
_DELIVERY_COLUMNS = ("change_seq", "recipient_kbo", "key", "capacity", "deliberation", "created_at")


class _Raw:
    """Bulk inserts on the driver itself: the intake writes tens of thousands of rows a second, and
    SQLAlchemy's per-row parameter processing was half its time (profiled). Values are given as the
    driver stores them for these columns' SQLAlchemy types, so the ORM reads them back unchanged."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def time(self, value: dt.datetime) -> Any:
        # SQLAlchemy keeps a SQLite DateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here), without a zone
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def day(self, value: dt.date) -> Any:
        return value.isoformat() if self.sqlite else value

    def insert(
        self,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        table: str,
        json_column: str | None = None,
    ) -> None:
        mark = "?" if self.sqlite else "%s"
        values = ", ".join(
            f"CAST({mark} AS JSONB)" if c == json_column and not self.sqlite else mark for c in columns
        )
        names = ", ".join(f'"{c}"' for c in columns)
        self.conn.exec_driver_sql(f'INSERT INTO "{table}" ({names}) VALUES ({values})', list(rows))  # noqa: S608


def take_turn(conn: Connection) -> None:
    """Writers of changes take turns (see the module docstring); SQLite's write lock does it already."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": INGEST_LOCK})


def receive(
    conn: Connection,
    *,
    items: Sequence[Change | Refused],
    subscriptions: Subscriptions,
    directory: DirectoryLookup,
    known_recipients: set[str] | None = None,
    now: dt.datetime | None = None,
) -> list[Outcome]:
    """Store a batch of (parsed) changes and their deliveries; one outcome per item, in order."""
    now = now or utc_now()
    today = now.date()
    take_turn(conn)
    outcomes: list[Outcome | None] = [i if isinstance(i, Refused) else None for i in items]
    fresh: list[tuple[int, Change, str]] = []
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    candidates = [(i, c) for i, c in enumerate(items) if not isinstance(c, Refused)]
    stored = _stored(conn, [(c.source, c.change_id) for _, c in candidates])
    for index, change in candidates:
        ident = (change.source, change.change_id)
        if change.occurred_at is None:
            change = change.model_copy(update={"occurred_at": now})
        body = change.model_dump_json()
        earlier = stored.get(ident)
        if earlier is not None:
            seq, reached, stored_body = earlier
            outcomes[index] = (
                Accepted(index, seq, change.change_id, reached, duplicate=True)
                if _same(stored_body, orjson.loads(body))
                else Refused(
                    index, "CHANGE_ID_REUSED", f"change id {change.change_id} was received with other content"
                )
            )
            continue
        if ident in seen:
            first, first_body = seen[ident]
            outcomes[index] = (
                None
                if _same(orjson.loads(first_body), orjson.loads(body))
                else Refused(index, "CHANGE_ID_REUSED", "twice in this batch")
            )
            continue
        seen[ident] = (index, body)
        fresh.append((index, change, body))

    if fresh:
        needing = [c.insz for _, c, _ in fresh if subscriptions.needs_directory.get(c.type, False)]
        lines = directory(needing, today) if needing else {}
        first_seq = int(conn.execute(select(func.coalesce(func.max(change_table.c.seq), 0))).scalar_one()) + 1
        raw = _Raw(conn)
        changes: list[tuple[Any, ...]] = []
        deliveries: list[tuple[Any, ...]] = []
        fanned: list[tuple[str, ...]] = []
        stamp = raw.time(now)
        for seq, (_, change, body) in enumerate(fresh, start=first_seq):
            recipients = subscriptions.recipients(
                change_type=change.type,
                source=change.source,
                kind=_kind(change),
                lines=(Line(*line) for line in lines.get(change.insz, ())),
            )
            fanned.append(tuple(r.institution for r in recipients))
            changes.append(
                (
                    seq,
                    change.source,
                    change.change_id,
                    change.type,
                    change.insz,
                    raw.day(change.effective),
                    stamp,
                    body,
                    len(recipients),
                )
            )
            deliveries.extend(
                (seq, r.institution, f"{seq}:{r.institution}", r.capacity, r.subscription, stamp)
                for r in recipients
            )
        raw.insert(_CHANGE_COLUMNS, changes, table="change", json_column="body")
        if deliveries:
            raw.insert(_DELIVERY_COLUMNS, deliveries, table="delivery")
            _ensure_recipients(conn, {d[1] for d in deliveries}, known_recipients)
        for seq, (index, change, _), to in zip(
            range(first_seq, first_seq + len(fresh)), fresh, fanned, strict=True
        ):
            outcomes[index] = Accepted(index, seq, change.change_id, len(to), to=to)
    # repeats inside the batch answer like their first
    for index, change in candidates:
        if outcomes[index] is None:
            first, _ = seen[(change.source, change.change_id)]
            done = outcomes[first]
            assert isinstance(done, Accepted)
            outcomes[index] = Accepted(index, done.seq, change.change_id, done.recipients, duplicate=True)
    return [o for o in outcomes if o is not None]


def _stored(
    conn: Connection, idents: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int, dict[str, Any]]]:
    """The changes of this batch already received. Asked per source with ``change_id IN (…)``: a row-value
    ``(source, change_id) IN (VALUES …)`` makes SQLite scan the whole unique index, so the intake slowed
    as the table grew (profiled: 43 % of the service at 300,000 changes)."""
    found: dict[tuple[str, str], tuple[int, int, dict[str, Any]]] = {}
    c = change_table.c
    by_source: dict[str, set[str]] = {}
    for source, change_id in idents:
        by_source.setdefault(source, set()).add(change_id)
    for source, ids in sorted(by_source.items()):
        unique = sorted(ids)
        for i in range(0, len(unique), 500):
            query = select(c.change_id, c.seq, c.recipients, c.body).where(
                c.source_kbo == source, c.change_id.in_(unique[i : i + 500])
            )
            for change_id, seq, recipients, body in conn.execute(query):
                found[(source, change_id)] = (int(seq), int(recipients), body)
    return found


def _ensure_recipients(conn: Connection, kbos: set[str], known: set[str] | None) -> None:
    missing = kbos - known if known is not None else kbos
    if not missing:
        return
    existing = set(
        conn.execute(
            select(recipient_table.c.kbo).where(recipient_table.c.kbo.in_(sorted(missing)))
        ).scalars()
    )
    new = sorted(missing - existing)
    if new:
        conn.execute(
            insert(recipient_table),
            [{"kbo": k, "mode": "pull", "acked": 0, "attempts": 0, "retries": 0} for k in new],
        )
    if known is not None:
        known.update(missing)


# ------------------------------------------------------------------------------------------------ feed


def feed(conn: Connection, *, recipient: str, after: int, limit: int) -> list[dict[str, Any]]:
    """The recipient's deliveries after ``after``, in order: what the database transport serves.

    On the driver, the body read as text and parsed by orjson: the feed is the other hot path (every
    delivery passes here once), and SQLAlchemy's row and JSON processing was most of its cost."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    body = "c.body" if sqlite else "c.body::text"
    sql = (
        f"SELECT d.id, d.key, d.change_seq, d.capacity, d.deliberation, {body} "  # noqa: S608 — no input
        'FROM delivery d JOIN "change" c ON c.seq = d.change_seq '
        f"WHERE d.recipient_kbo = {mark} AND d.id > {mark} ORDER BY d.id LIMIT {mark}"
    )
    rows = conn.exec_driver_sql(sql, (recipient, after, limit)).all()
    loads = orjson.loads
    return [
        {
            "key": key,
            "cursor": int(cursor),
            "seq": int(seq),
            "recipient": recipient,
            "capacity": capacity,
            "deliberation": deliberation,
            "change": loads(text_),
        }
        for cursor, key, seq, capacity, deliberation, text_ in rows
    ]


def delivered_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery as the recipient receives it (the same on every transport)."""
    return {
        "key": row["key"],
        "cursor": int(row["cursor"]),
        "seq": int(row["seq"]),
        "recipient": row["recipient"],
        "capacity": row["capacity"],
        "deliberation": row["deliberation"],
        "change": row["change"],
    }


# ------------------------------------------------------------------------------------------ recipients


@dataclass(frozen=True, slots=True)
class RecipientState:
    kbo: str
    mode: str
    callback_url: str | None
    acked: int
    acked_at: dt.datetime | None
    attempts: int
    retries: int
    next_try_at: dt.datetime | None
    last_error: str | None
    dead_letters: int


def get_recipient(conn: Connection, kbo: str) -> RecipientState | None:
    states = list_recipients(conn, only=kbo)
    return states[0] if states else None


def list_recipients(conn: Connection, *, only: str | None = None) -> list[RecipientState]:
    r, dl = recipient_table.c, dead_letter_table.c
    dead: dict[str, int] = dict(
        conn.execute(
            select(dl.recipient_kbo, func.count()).where(dl.resent_at.is_(None)).group_by(dl.recipient_kbo)
        ).all()
    )
    query = select(recipient_table).order_by(r.kbo)
    if only is not None:
        query = query.where(r.kbo == only)
    return [
        RecipientState(
            kbo=row.kbo,
            mode=row.mode,
            callback_url=row.callback_url,
            acked=int(row.acked),
            acked_at=_aware(row.acked_at),
            attempts=int(row.attempts),
            retries=int(row.retries),
            next_try_at=_aware(row.next_try_at),
            last_error=row.last_error,
            dead_letters=int(dead.get(row.kbo, 0)),
        )
        for row in conn.execute(query)
    ]


def subscribe(
    conn: Connection, *, kbo: str, mode: str, callback_url: str | None, secret: str | None
) -> RecipientState:
    """Set how ``kbo`` takes its changes: ``pull`` (its feed) or ``push`` (signed POSTs to its callback)."""
    r = recipient_table.c
    values = {
        "mode": mode,
        "callback_url": callback_url,
        "secret": secret,
        "attempts": 0,
        "next_try_at": None,
    }
    done = conn.execute(update(recipient_table).where(r.kbo == kbo).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(recipient_table).values(kbo=kbo, acked=0, retries=0, **values))
    state = get_recipient(conn, kbo)
    assert state is not None
    return state


def push_targets(conn: Connection) -> list[tuple[str, str, str | None]]:
    """``(kbo, callback_url, secret)`` of every push recipient."""
    r = recipient_table.c
    query = select(r.kbo, r.callback_url, r.secret).where(r.mode == "push", r.callback_url.is_not(None))
    return [(k, u, s) for k, u, s in conn.execute(query)]


def ack(conn: Connection, *, recipient: str, cursor: int, now: dt.datetime | None = None) -> int:
    """Record that ``recipient`` applied everything up to ``cursor`` (never moves back); the new position."""
    r = recipient_table.c
    now = now or utc_now()
    conn.execute(
        update(recipient_table)
        .where(r.kbo == recipient, r.acked < cursor)
        .values(acked=cursor, acked_at=now, attempts=0, next_try_at=None, last_error=None)
    )
    acked = conn.execute(select(r.acked).where(r.kbo == recipient)).scalar()
    return int(acked or 0)


def replay(conn: Connection, *, recipient: str, cursor: int) -> None:
    """Move the recipient's position back (or forward) to ``cursor``: what follows is delivered again (the
    recipient applies each key once, so a replay changes nothing it already applied)."""
    r = recipient_table.c
    conn.execute(
        update(recipient_table)
        .where(r.kbo == recipient)
        .values(acked=cursor, attempts=0, next_try_at=None, last_error=None)
    )


def failed_push(conn: Connection, *, recipient: str, error: str, next_try_at: dt.datetime) -> int:
    """Count a failed push; returns the attempts of the head so far."""
    r = recipient_table.c
    conn.execute(
        update(recipient_table)
        .where(r.kbo == recipient)
        .values(
            attempts=r.attempts + 1, retries=r.retries + 1, next_try_at=next_try_at, last_error=error[:2000]
        )
    )
    return int(conn.execute(select(r.attempts).where(r.kbo == recipient)).scalar_one())


def dead_letter(
    conn: Connection, *, recipient: str, delivered: Mapping[str, Any], reason: str, attempts: int
) -> None:
    """Give up on one delivery: keep it with the reason, and move the recipient past it."""
    conn.execute(
        insert(dead_letter_table).values(
            recipient_kbo=recipient,
            cursor=int(delivered["cursor"]),
            key=str(delivered["key"]),
            change_seq=int(delivered["seq"]),
            reason=reason[:2000],
            attempts=attempts,
            at=utc_now(),
        )
    )
    ack(conn, recipient=recipient, cursor=int(delivered["cursor"]))


def dead_letters(conn: Connection, *, recipient: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    dl = dead_letter_table.c
    query = select(dead_letter_table).order_by(dl.id).limit(limit)
    if recipient is not None:
        query = query.where(dl.recipient_kbo == recipient)
    return [
        {
            "id": int(row.id),
            "recipient": row.recipient_kbo,
            "cursor": int(row.cursor),
            "key": row.key,
            "seq": int(row.change_seq),
            "reason": row.reason,
            "attempts": int(row.attempts),
            "at": _iso(row.at),
            "resent_at": _iso(row.resent_at),
        }
        for row in conn.execute(query)
    ]


def resend_dead_letter(conn: Connection, *, letter_id: int) -> dict[str, Any] | None:
    """Send a dead letter again: the recipient's position moves back before it (what follows is sent again
    too; the recipient applies each key once)."""
    dl, r = dead_letter_table.c, recipient_table.c
    row = conn.execute(select(dead_letter_table).where(dl.id == letter_id)).first()
    if row is None:
        return None
    acked = conn.execute(select(r.acked).where(r.kbo == row.recipient_kbo)).scalar()
    if acked is not None and int(acked) >= int(row.cursor):
        replay(conn, recipient=row.recipient_kbo, cursor=int(row.cursor) - 1)
    conn.execute(update(dead_letter_table).where(dl.id == letter_id).values(resent_at=utc_now()))
    return next(
        d for d in dead_letters(conn, recipient=row.recipient_kbo, limit=10_000) if d["id"] == letter_id
    )


def pending_count(conn: Connection, *, recipient: str, after: int) -> int:
    """Deliveries written for the recipient after ``after`` (its lag, in changes)."""
    d = delivery_table.c
    return int(
        conn.execute(
            select(func.count()).select_from(delivery_table).where(d.recipient_kbo == recipient, d.id > after)
        ).scalar_one()
    )


def oldest_pending(conn: Connection, *, recipient: str, after: int) -> dt.datetime | None:
    d = delivery_table.c
    return _aware(
        conn.execute(
            select(d.created_at).where(d.recipient_kbo == recipient, d.id > after).order_by(d.id).limit(1)
        ).scalar()
    )


def changes_of(conn: Connection, *, insz: str, limit: int = 100) -> list[dict[str, Any]]:
    """The changes received about a person, newest first, with how many recipients each reached."""
    c = change_table.c
    query = select(c.seq, c.received_at, c.body, c.recipients).where(c.insz == insz).order_by(c.seq.desc())
    return [
        {"seq": int(seq), "received_at": _iso(at), "recipients": int(n), "change": body}
        for seq, at, body, n in conn.execute(query.limit(limit))
    ]


def counts(conn: Connection) -> dict[str, int]:
    return {
        "changes": int(conn.execute(select(func.count()).select_from(change_table)).scalar_one()),
        "deliveries": int(conn.execute(select(func.count()).select_from(delivery_table)).scalar_one()),
        "dead_letters": int(conn.execute(select(func.count()).select_from(dead_letter_table)).scalar_one()),
    }


def relay_position(conn: Connection, *, stream: str) -> int:
    """The last delivery ``id`` published to ``stream`` (0 before the first)."""
    rp = relay_position_table.c
    found = conn.execute(select(rp.position).where(rp.stream == stream)).scalar()
    return int(found or 0)


def relay_batch(conn: Connection, *, after: int, limit: int) -> list[tuple[int, str, bytes]]:
    """The next deliveries to publish after ``after``, in order: ``(id, recipient, delivered)``.

    ``delivered`` is the delivery as the recipient receives it (JSON, the delivery id as its cursor), built
    around the change's stored JSON text without parsing it: the relay handles every delivery once."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    body = "c.body" if sqlite else "c.body::text"
    sql = (
        f"SELECT d.id, d.key, d.change_seq, d.recipient_kbo, d.capacity, d.deliberation, {body} "  # noqa: S608
        'FROM delivery d JOIN "change" c ON c.seq = d.change_seq '
        f"WHERE d.id > {mark} ORDER BY d.id LIMIT {mark}"
    )
    dumps = orjson.dumps
    out: list[tuple[int, str, bytes]] = []
    for i, key, seq, recipient, capacity, deliberation, text_ in conn.exec_driver_sql(sql, (after, limit)):
        head = dumps(
            {
                "key": key,
                "cursor": int(i),
                "seq": int(seq),
                "recipient": recipient,
                "capacity": capacity,
                "deliberation": deliberation,
            }
        )
        raw = text_.encode() if isinstance(text_, str) else bytes(text_)
        out.append((int(i), recipient, head[:-1] + b',"change":' + raw + b"}"))
    return out


@dataclass(frozen=True, slots=True)
class RelayedMessage:
    """One message on the stream: one recipient's deliveries ``first_id``‥``last_id`` (in order)."""

    stream_seq: int
    recipient: str
    first_id: int
    last_id: int


def record_relayed(conn: Connection, *, stream: str, messages: Sequence[RelayedMessage], up_to: int) -> None:
    """The messages of a relay batch are on ``stream``, and so is every delivery up to ``up_to``."""
    if messages:
        # a message stored and recorded before, published again (dedupe answers its first sequence)
        m = relayed_message_table.c
        conn.execute(
            delete(relayed_message_table).where(
                m.stream == stream, m.stream_seq.in_(sorted({x.stream_seq for x in messages}))
            )
        )
        conn.execute(
            insert(relayed_message_table),
            [
                {
                    "stream": stream,
                    "stream_seq": m.stream_seq,
                    "recipient_kbo": m.recipient,
                    "first_id": m.first_id,
                    "last_id": m.last_id,
                }
                for m in messages
            ],
        )
    mark_relayed(conn, stream=stream, up_to=up_to)


def reader_start(conn: Connection, *, stream: str, recipient: str, after: int) -> int:
    """The stream sequence from which a reader of ``recipient``'s deliveries after ``after`` starts: the
    first recorded message that carries a later delivery, or else just after the last recorded one (a
    message published but not yet recorded lies there; deliveries up to ``after`` are skipped by id)."""
    m = relayed_message_table.c
    mine = (m.stream == stream) & (m.recipient_kbo == recipient)
    holding = conn.execute(
        select(m.stream_seq).where(mine, m.last_id > after).order_by(m.last_id).limit(1)
    ).scalar()
    if holding is not None:
        return int(holding)
    last = conn.execute(select(func.max(m.stream_seq)).where(mine)).scalar()
    return int(last or 0) + 1


def mark_relayed(conn: Connection, *, stream: str, up_to: int, now: dt.datetime | None = None) -> None:
    """Everything up to delivery ``up_to`` is on ``stream`` (the position never moves back)."""
    rp = relay_position_table.c
    now = now or utc_now()
    moved = conn.execute(
        update(relay_position_table)
        .where(rp.stream == stream, rp.position < up_to)
        .values(position=up_to, updated_at=now)
    )
    if moved.rowcount == 0 and conn.execute(select(rp.stream).where(rp.stream == stream)).first() is None:
        conn.execute(insert(relay_position_table).values(stream=stream, position=up_to, updated_at=now))
