"""Operating figures over the log: messages per minute, outcomes and refusal codes, traffic per institution.

Why the log: it holds every exchange, allowed or refused, from every hub process (one chain each), so its
figures are those of the whole network, not of the one process a ``/health`` call happens to reach.

Why the queries are bounded this way: ``audit_entry`` has no index on ``occurred_at`` (only its primary key
``(chain, seq)``, the ticket and ``(person_insz, occurred_at)``). Within a chain, ``seq`` follows the
writer's order, which is the order of arrival give or take the writer's batching window, so the first seq
of the window is found per chain by a binary search over the primary key (a few dozen single-row lookups),
and every aggregate reads only ``chain = c AND seq >= first`` — a range of the primary key — with
``occurred_at`` filtered on top. :data:`SKEW` is the margin taken for entries written slightly out of order.

The log records when a message arrived, not how long it took: there is no latency here (see the report of
issue 7: it needs a duration column).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, and_, case, func, or_, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from kruispunt.audit.models import audit_entry, audit_head
from kruispunt.audit.schemas import Outcome

MAX_MINUTES = 24 * 60
"""The longest window asked (a day): the figures are for watching the network, not for history."""

SKEW = timedelta(minutes=1)
"""How far an entry's time may be behind an earlier seq of its chain (writer batching, clock steps)."""

TOP_INSTITUTIONS = 50
"""Requesting institutions listed, busiest first."""


@dataclass(frozen=True)
class InstitutionTraffic:
    kbo: str | None
    messages: int
    refused: int


@dataclass(frozen=True)
class AuditStats:
    """The figures of ``[since, until)``; ``per_minute`` lists only minutes with traffic (UTC, ``HH:MM``)."""

    since: datetime
    until: datetime
    total: int = 0
    refused: int = 0
    per_minute: list[tuple[str, int, int]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    message_types: dict[str, int] = field(default_factory=dict)
    institutions: list[InstitutionTraffic] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max((self.until - self.since).total_seconds(), 1.0)

    def as_json(self) -> dict[str, Any]:
        busiest = max((count for _, count, _ in self.per_minute), default=0)
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "total": self.total,
            "refused": self.refused,
            "messagesPerSecond": round(self.total / self.seconds, 3),
            "peakMessagesPerSecond": round(busiest / 60, 3),
            "perMinute": [{"minute": m, "messages": c, "refused": r} for m, c, r in self.per_minute],
            "outcomes": self.outcomes,
            "refusals": self.refusals,
            "errors": self.errors,
            "messageTypes": self.message_types,
            "institutions": [
                {"kbo": i.kbo, "messages": i.messages, "refused": i.refused} for i in self.institutions
            ],
            "latency": None,
        }


def _minute(conn: Connection) -> ColumnElement[Any]:
    """The entry's minute as text ``YYYY-MM-DD HH:MM`` (UTC) on this dialect."""
    column = audit_entry.c.occurred_at
    if conn.dialect.name == "sqlite":
        return func.substr(type_coerce(column, String()), 1, 16)
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24:MI")
    raise NotImplementedError(f"audit statistics on {conn.dialect.name}")


def _first_seq(conn: Connection, chain: int, last_seq: int, moment: datetime) -> int | None:
    """The lowest seq of ``chain`` whose entry is at or after ``moment`` (seq order ≈ time order), or None."""
    entry = audit_entry.c

    def time_at(seq: int) -> tuple[int, datetime] | None:
        row = conn.execute(
            select(entry.seq, entry.occurred_at)
            .where(entry.chain == chain, entry.seq >= seq)
            .order_by(entry.seq)
            .limit(1)
        ).first()
        return None if row is None else (int(row[0]), _as_utc(row[1]))

    low, high, found = 1, last_seq, None
    while low <= high:
        middle = (low + high) // 2
        probe = time_at(middle)
        if probe is None or probe[0] > high:
            high = middle - 1
            continue
        if probe[1] >= moment:
            found, high = probe[0], middle - 1
        else:
            low = probe[0] + 1
    return found


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def window_stats(conn: Connection, *, minutes: int, now: datetime | None = None) -> AuditStats:
    """The figures of the last ``minutes`` minutes (1 to :data:`MAX_MINUTES`) before ``now``."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be 1 to {MAX_MINUTES}")
    until = (now or datetime.now(UTC)).astimezone(UTC)
    since = until - timedelta(minutes=minutes)
    ranges = []
    for chain, last_seq in conn.execute(select(audit_head.c.chain, audit_head.c.last_seq)):
        first = _first_seq(conn, int(chain), int(last_seq), since - SKEW)
        if first is not None:
            ranges.append(and_(audit_entry.c.chain == chain, audit_entry.c.seq >= first))
    if not ranges:
        return AuditStats(since=since, until=until)
    entry = audit_entry.c
    where = and_(or_(*ranges), entry.occurred_at >= since, entry.occurred_at < until)
    refused = func.sum(case((entry.outcome == Outcome.REFUSED.value, 1), else_=0))
    count = func.count()

    minute = _minute(conn).label("minute")
    per_minute = [
        (str(m), int(c), int(r or 0))
        for m, c, r in conn.execute(
            select(minute, count, refused).where(where).group_by(minute).order_by(minute)
        )
    ]
    outcomes: dict[str, int] = {}
    refusals: dict[str, int] = {}
    errors: dict[str, int] = {}
    for outcome, code, n in conn.execute(
        select(entry.outcome, entry.reason_code, count)
        .where(where)
        .group_by(entry.outcome, entry.reason_code)
    ):
        outcomes[outcome] = outcomes.get(outcome, 0) + int(n)
        if outcome == Outcome.REFUSED.value:
            refusals[code or "UNKNOWN"] = refusals.get(code or "UNKNOWN", 0) + int(n)
        elif outcome == Outcome.ERROR.value:
            errors[code or "UNKNOWN"] = errors.get(code or "UNKNOWN", 0) + int(n)
    types = {
        str(t or "-"): int(n)
        for t, n in conn.execute(select(entry.message_type, count).where(where).group_by(entry.message_type))
    }
    institutions = [
        InstitutionTraffic(kbo, int(n), int(r or 0))
        for kbo, n, r in conn.execute(
            select(entry.requester_kbo, count, refused)
            .where(where)
            .group_by(entry.requester_kbo)
            .order_by(count.desc(), entry.requester_kbo)
            .limit(TOP_INSTITUTIONS)
        )
    ]
    return AuditStats(
        since=since,
        until=until,
        total=sum(c for _, c, _ in per_minute),
        refused=sum(r for _, _, r in per_minute),
        per_minute=per_minute,
        outcomes=dict(sorted(outcomes.items())),
        refusals=dict(sorted(refusals.items(), key=lambda kv: (-kv[1], kv[0]))),
        errors=dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        message_types=dict(sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))),
        institutions=institutions,
    )
