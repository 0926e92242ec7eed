"""The rights engine: changes in, entitlements and events out — the "rights come to people" flow.

``apply_change`` records one change of the network (a status opened or closed at a source, a household
move, a death, a replaced INSZ) exactly once, then ``recompute`` derives again the entitlements of everyone
it touches — the person and the members of their households — and writes an ``entitlement_event`` for each
period a granting body must hear about. Granting bodies read their feed (``events_for``) and the quarterly
lists (``quarterly_list``); citizens see their rights and why (``entitlements_of``, ``explain``);
municipalities match a file of inhabitants (``match_inhabitants``).

Functions take keyword-only arguments and an explicit connection; the caller owns the transaction, so a
change, the entitlements it moves and their events are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import Connection, Row, Table, delete, insert, select, union, update

from kruispunt.ids import InvalidIdentifier, validate_insz
from kruispunt.mutations.schemas import (
    AddressChange,
    CancelledChange,
    DeathChange,
    HouseholdChange,
    ReplacedChange,
    StatusChange,
)
from kruispunt.rights.definitions import Definitions, RightDef, load_definitions
from kruispunt.rights.errors import RightsError
from kruispunt.rights.models import (
    applied_change_table,
    energy_customer_table,
    entitlement_event_table,
    entitlement_table,
    household_member_table,
    person_table,
    status_period_table,
)
from kruispunt.rights.rules import quarter_bounds, right_end, right_start

AnyChange = StatusChange | AddressChange | HouseholdChange | DeathChange | ReplacedChange | CancelledChange
Outcome = Literal["applied", "ignored", "stale", "duplicate"]
EventKind = Literal["granted", "changed", "ended"]
Resolver = Callable[[str, str | None, dt.date], str | None]
"""(last name, first name, birth date) → the INSZ, None when nobody matches, or ``"ambiguous"``."""

_OPEN = dt.date.max  # an open end, while computing (stored as NULL)
_DAY = dt.timedelta(days=1)
_CHUNK = 500  # values per IN (...) list: well under SQLite's parameter limit


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    return utc_now().date()


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _rows_in(conn: Connection, table: Table, column: str, values: Iterable[Any]) -> list[Row[Any]]:
    """Every row of ``table`` whose ``column`` is one of ``values`` (queried in chunks)."""
    wanted = sorted(set(values))
    out: list[Row[Any]] = []
    for part in _chunks(wanted):
        out.extend(conn.execute(select(table).where(table.c[column].in_(part))))
    return out


def _stored_end(end: dt.date) -> dt.date | None:
    return None if end == _OPEN else end


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What applying one change did: ``duplicate`` when the key was applied before (nothing changed)."""

    key: str
    seq: int
    outcome: Outcome
    detail: str
    affected: tuple[str, ...] = ()
    events: int = 0


@dataclass(frozen=True, slots=True)
class Ground:
    """One status behind a period of a right: whose, where from, which rule, and what period it gives."""

    status: str
    source_kbo: str
    kind: str
    file_key: str
    status_start: dt.date
    status_end: dt.date | None
    via_insz: str
    rule: str
    start: dt.date
    end: dt.date  # _OPEN while computing

    def as_json(self, defs: Definitions, *, insz: str) -> dict[str, Any]:
        status_def = defs.statuses.get(self.status)
        return {
            "status": self.status,
            "status_title": status_def.title if status_def else self.status,
            "source_kbo": self.source_kbo,
            "source_name": defs.name_of(self.source_kbo),
            "kind": self.kind,
            "file_key": self.file_key,
            "status_start": _iso(self.status_start),
            "status_end": _iso(self.status_end),
            "via_insz": self.via_insz,
            "via_household": self.via_insz != insz,
            "rule": self.rule,
            "start": _iso(self.start),
            "end": _iso(_stored_end(self.end)),
        }


@dataclass(frozen=True, slots=True)
class EntitlementView:
    """One period of a derived right of a person, with every ground it rests on (JSON-ready dicts)."""

    right: str
    title: str
    body_kbo: str
    body_name: str
    insz: str
    start: dt.date
    end: dt.date | None
    via_insz: str
    status: str
    source_kbo: str
    rule: str
    grounds: tuple[dict[str, Any], ...]

    def in_force_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class EventView:
    """One entry of a granting body's feed; ``ended`` with ``end`` before ``start``: never held."""

    id: int
    right: str
    body_kbo: str
    insz: str
    event: str
    start: dt.date
    end: dt.date | None
    via_insz: str | None
    caused_by_seq: int | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ListEntry:
    insz: str
    start: dt.date
    end: dt.date
    via_insz: str
    status: str


@dataclass(frozen=True, slots=True)
class SupplierEntry:
    customer_id: str
    insz: str
    start: dt.date
    end: dt.date
    via_insz: str


@dataclass(frozen=True, slots=True)
class QuarterlyList:
    """Everyone entitled on some day of the quarter, each period clipped to it; per supplier when the right
    is listed per energy supplier (only customers whose contract runs in the quarter)."""

    right: str
    quarter: int
    body_kbo: str
    start: dt.date
    end: dt.date
    entries: tuple[ListEntry, ...]
    suppliers: dict[str, tuple[SupplierEntry, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusHeld:
    status: str
    start: dt.date
    end: dt.date
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MatchLine:
    """One line of a municipality's file: the statuses found, or an error code with a message."""

    line: int
    insz: str | None
    statuses: tuple[StatusHeld, ...] = ()
    error: str | None = None
    message: str | None = None


# ---------------------------------------------------------------------------------------------- the engine


@dataclass(frozen=True, slots=True)
class _Status:
    insz: str
    status: str
    source_kbo: str
    kind: str
    file_key: str
    start: dt.date
    end: dt.date  # clipped to the holder's death; _OPEN when open


@dataclass(frozen=True, slots=True)
class _Membership:
    household_id: int
    insz: str
    since: dt.date
    until: dt.date  # clipped to the member's death; _OPEN when still a member


@dataclass(slots=True)
class _Period:
    start: dt.date
    end: dt.date
    grounds: list[Ground]

    def primary(self, insz: str) -> Ground:
        """The ground shown first: the person's own status before a household member's, earliest first."""
        return min(self.grounds, key=lambda g: (g.via_insz != insz, g.start, g.status, g.file_key))


def _deaths(conn: Connection, inszs: Iterable[str]) -> dict[str, dt.date]:
    return {
        r.insz: r.death_date for r in _rows_in(conn, person_table, "insz", inszs) if r.death_date is not None
    }


def _statuses(conn: Connection, inszs: Iterable[str], deaths: Mapping[str, dt.date]) -> list[_Status]:
    """The status periods in force for these persons (not cancelled, ended at the holder's death)."""
    out: list[_Status] = []
    for r in _rows_in(conn, status_period_table, "insz", inszs):
        if r.cancelled:
            continue
        end = r.end or _OPEN
        death = deaths.get(r.insz)
        if death is not None:
            end = min(end, death)
        if r.start <= end:
            out.append(_Status(r.insz, r.status, r.source_kbo, r.kind, r.file_key, r.start, end))
    return out


def _memberships(rows: Iterable[Row[Any]], deaths: Mapping[str, dt.date]) -> list[_Membership]:
    out: list[_Membership] = []
    for r in rows:
        until = r.until or _OPEN
        death = deaths.get(r.insz)
        if death is not None:
            until = min(until, death)
        if r.since <= until:
            out.append(_Membership(r.household_id, r.insz, r.since, until))
    return out


def household_mates(conn: Connection, inszs: Iterable[str]) -> set[str]:
    """Everyone who shares (or shared) a household with one of ``inszs``, those included."""
    wanted = set(inszs)
    households = {r.household_id for r in _rows_in(conn, household_member_table, "insz", wanted)}
    return wanted | {r.insz for r in _rows_in(conn, household_member_table, "household_id", households)}


def _ground(
    right: RightDef, status: _Status, *, via: str, window: tuple[dt.date, dt.date] | None
) -> Ground | None:
    start = right_start(right.start, status.start)
    end = right_end(right.end, _stored_end(status.end)) or _OPEN
    if window is not None:
        start, end = max(start, window[0]), min(end, window[1])
    if start > end:
        return None
    return Ground(
        status=status.status,
        source_kbo=status.source_kbo,
        kind=status.kind,
        file_key=status.file_key,
        status_start=status.start,
        status_end=_stored_end(status.end),
        via_insz=via,
        rule=f"{right.start}/{right.end}",
        start=start,
        end=end,
    )


def _merge(grounds: Iterable[Ground]) -> list[_Period]:
    """Overlapping or touching grounds of one right and person make one period."""
    periods: list[_Period] = []
    for g in sorted(grounds, key=lambda g: (g.start, g.end)):
        last = periods[-1] if periods else None
        if last is not None and (last.end == _OPEN or g.start <= last.end + _DAY):
            last.end = max(last.end, g.end)
            last.grounds.append(g)
        else:
            periods.append(_Period(g.start, g.end, [g]))
    return periods


def _derive(
    defs: Definitions,
    targets: Iterable[str],
    statuses: Iterable[_Status],
    memberships: Iterable[_Membership],
    deaths: Mapping[str, dt.date],
) -> dict[tuple[str, str], list[_Period]]:
    """The periods of every right of every target, from the statuses of the targets and their households."""
    by_holder: dict[str, list[_Status]] = defaultdict(list)
    for s in statuses:
        by_holder[s.insz].append(s)
    by_person: dict[str, list[_Membership]] = defaultdict(list)
    by_household: dict[int, list[_Membership]] = defaultdict(list)
    for m in memberships:
        by_person[m.insz].append(m)
        by_household[m.household_id].append(m)

    result: dict[tuple[str, str], list[_Period]] = {}
    for insz in targets:
        grounds: dict[str, list[Ground]] = defaultdict(list)
        for s in by_holder.get(insz, ()):
            for right in defs.rights_opened_by(s.status):
                g = _ground(right, s, via=insz, window=None)
                if g is not None:
                    grounds[right.code].append(g)
        for own in by_person.get(insz, ()):
            for mate in by_household[own.household_id]:
                if mate.insz == insz:
                    continue
                window = (max(own.since, mate.since), min(own.until, mate.until))
                if window[0] > window[1]:
                    continue
                for s in by_holder.get(mate.insz, ()):
                    for right in defs.rights_opened_by(s.status):
                        if right.extends_to != "household":
                            continue
                        g = _ground(right, s, via=mate.insz, window=window)
                        if g is not None:
                            grounds[right.code].append(g)
        death = deaths.get(insz)
        for right_code, found in grounds.items():
            if death is not None:
                found = [replace(g, end=min(g.end, death)) for g in found if g.start <= death]
            periods = _merge(found)
            if periods:
                result[(insz, right_code)] = periods
    return result


def _overlaps(a_start: dt.date, a_end: dt.date, b_start: dt.date, b_end: dt.date) -> bool:
    return a_start <= b_end and b_start <= a_end


def _diff(
    old: Sequence[Row[Any]], new: Sequence[_Period]
) -> list[tuple[EventKind, dt.date, dt.date | None, str | None, _Period | None]]:
    """The events that take a body from the old periods of a right to the new ones."""
    events: list[tuple[EventKind, dt.date, dt.date | None, str | None, _Period | None]] = []
    unmatched = list(old)
    for period in new:
        match = next(
            (o for o in unmatched if _overlaps(o.start, o.end or _OPEN, period.start, period.end)), None
        )
        end = _stored_end(period.end)
        if match is None:
            events.append(("granted", period.start, end, None, period))
            continue
        unmatched.remove(match)
        if match.start == period.start and match.end == end:
            continue
        old_end = match.end or _OPEN
        kind: EventKind = "ended" if match.start == period.start and period.end < old_end else "changed"
        events.append((kind, period.start, end, None, period))
    for gone in unmatched:
        events.append(("ended", gone.start, gone.start - _DAY, gone.via_insz, None))
    return events


def recompute(
    conn: Connection,
    *,
    inszs: Iterable[str],
    today: dt.date,
    seq: int | None = None,
    emit_events: bool = True,
    definitions: Definitions | None = None,
) -> int:
    """Derive again the entitlements of exactly these persons, store them, and write the events a granting
    body must hear about (none when ``emit_events`` is false, e.g. an initial load). Returns the number of
    events written. ``today`` stamps the entitlements (``computed_on``); ``seq`` the events' cause."""
    defs = definitions or load_definitions()
    targets = sorted(set(inszs))
    if not targets:
        return 0
    own_rows = _rows_in(conn, household_member_table, "insz", targets)
    households = {r.household_id for r in own_rows}
    member_rows = _rows_in(conn, household_member_table, "household_id", households) if households else []
    everyone = set(targets) | {r.insz for r in member_rows}
    deaths = _deaths(conn, everyone)
    derived = _derive(
        defs, targets, _statuses(conn, everyone, deaths), _memberships(member_rows, deaths), deaths
    )

    stored: dict[tuple[str, str], list[Row[Any]]] = defaultdict(list)
    for row in _rows_in(conn, entitlement_table, "insz", targets):
        stored[(row.insz, row.right)].append(row)

    at = utc_now()
    events: list[dict[str, Any]] = []
    new_rows: list[dict[str, Any]] = []
    for key in sorted(set(stored) | set(derived)):
        insz, right_code = key
        right = defs.right(right_code)
        periods = derived.get(key, [])
        for period in periods:
            first = period.primary(insz)
            new_rows.append(
                {
                    "right": right_code,
                    "insz": insz,
                    "start": period.start,
                    "end": _stored_end(period.end),
                    "via_insz": first.via_insz,
                    "status": first.status,
                    "source_kbo": first.source_kbo,
                    "kind": first.kind,
                    "rule": first.rule,
                    "explanation": [g.as_json(defs, insz=insz) for g in sorted(period.grounds, key=_order)],
                    "computed_on": today,
                }
            )
        if not emit_events or right is None:
            continue
        old = sorted(stored.get(key, []), key=lambda r: r.start)
        for kind, start, end, via, moved in _diff(old, periods):
            events.append(
                {
                    "right": right_code,
                    "body_kbo": right.body.kbo,
                    "insz": insz,
                    "event": kind,
                    "start": start,
                    "end": end,
                    "via_insz": moved.primary(insz).via_insz if moved is not None else via,
                    "caused_by_seq": seq,
                    "at": at,
                }
            )
    for part in _chunks(targets):
        conn.execute(delete(entitlement_table).where(entitlement_table.c.insz.in_(part)))
    for rows in _chunks(new_rows):
        conn.execute(insert(entitlement_table), list(rows))
    for rows in _chunks(events):
        conn.execute(insert(entitlement_event_table), list(rows))
    return len(events)


def _order(g: Ground) -> tuple[dt.date, str, str]:
    return (g.start, g.status, g.file_key)


def recompute_all(
    conn: Connection,
    *,
    today: dt.date,
    emit_events: bool = True,
    batch: int = 5000,
    definitions: Definitions | None = None,
) -> int:
    """Recompute everyone who holds a status, shares a household with a holder, or holds an entitlement
    (after the bulk loads). Returns the number of events written."""
    holders = select(status_period_table.c.insz).where(status_period_table.c.cancelled.is_(False))
    entitled = select(entitlement_table.c.insz)
    people = sorted({r[0] for r in conn.execute(union(holders, entitled))})
    written = 0
    for part in _chunks(people, batch):
        written += recompute(
            conn,
            inszs=household_mates(conn, part),
            today=today,
            emit_events=emit_events,
            definitions=definitions,
        )
    return written


# -------------------------------------------------------------------------------------------- bulk loads


def load_households(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Initial household composition: rows ``{household_id, insz, head?, since, until?}``."""
    values = [
        {
            "household_id": int(r["household_id"]),
            "insz": r["insz"],
            "head": bool(r.get("head", False)),
            "since": r["since"],
            "until": r.get("until"),
        }
        for r in rows
    ]
    for part in _chunks(values, 5000):
        conn.execute(insert(household_member_table), list(part))
    return len(values)


def load_statuses(
    conn: Connection, rows: Iterable[Mapping[str, Any]], *, definitions: Definitions | None = None
) -> int:
    """Initial status files: rows ``{insz, source_kbo, kind, file_key, start, end?}``; files of a kind no
    status uses are skipped. Returns the number loaded (recompute afterwards: :func:`recompute_all`)."""
    defs = definitions or load_definitions()
    now = utc_now()
    values: list[dict[str, Any]] = []
    for r in rows:
        status = defs.status_for(source=r["source_kbo"], kind=r["kind"])
        if status is None:
            continue
        values.append(
            {
                "insz": r["insz"],
                "status": status,
                "source_kbo": r["source_kbo"],
                "kind": r["kind"],
                "file_key": str(r["file_key"]),
                "start": r["start"],
                "end": r.get("end"),
                "cancelled": False,
                "seq": None,
                "updated_at": now,
            }
        )
    for part in _chunks(values, 5000):
        conn.execute(insert(status_period_table), list(part))
    return len(values)


def load_energy_customers(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """The customer files of the energy suppliers: rows ``{customer_id, insz, supplier_kbo, since}``."""
    values = [
        {
            "customer_id": str(r["customer_id"]),
            "insz": r["insz"],
            "supplier_kbo": r["supplier_kbo"],
            "since": r["since"],
        }
        for r in rows
    ]
    for part in _chunks(values, 5000):
        conn.execute(insert(energy_customer_table), list(part))
    return len(values)


# ------------------------------------------------------------------------------------------ applying changes


def _current_insz(conn: Connection, insz: str) -> str:
    """The INSZ that now stands for ``insz`` (following replacements), so a late change finds the person."""
    seen = {insz}
    while True:
        row = conn.execute(select(person_table.c.replaced_by).where(person_table.c.insz == insz)).first()
        if row is None or row.replaced_by is None or row.replaced_by in seen:
            return insz
        insz = row.replaced_by
        seen.add(insz)


def _apply_status(
    conn: Connection, change: StatusChange, seq: int, defs: Definitions
) -> tuple[Outcome, str, set[str]]:
    data = change.data
    status = defs.status_for(source=change.source, kind=data.kind)
    if status is None:
        return "ignored", f"no harmonised status uses files of kind {data.kind} at {change.source}", set()
    insz = _current_insz(conn, change.insz)
    t = status_period_table
    where = (t.c.source_kbo == change.source) & (t.c.kind == data.kind) & (t.c.file_key == data.file_key)
    row = conn.execute(select(t).where(where)).first()
    if row is not None and row.seq is not None and row.seq > seq:
        return "stale", f"file {data.file_key} was changed by a later change (seq {row.seq})", set()
    if change.type in ("status.opened", "status.amended"):
        start, end, cancelled = data.start or change.effective, data.end, False
    elif change.type == "status.closed":
        start = data.start or (row.start if row is not None else change.effective)
        end, cancelled = data.end or change.effective, False
    else:  # status.cancelled
        start = row.start if row is not None else (data.start or change.effective)
        end, cancelled = (row.end if row is not None else data.end), True
    values = {
        "insz": insz,
        "status": status,
        "start": start,
        "end": end,
        "cancelled": cancelled,
        "seq": seq,
        "updated_at": utc_now(),
    }
    affected = {insz}
    if row is None:
        conn.execute(
            insert(t).values(source_kbo=change.source, kind=data.kind, file_key=data.file_key, **values)
        )
    else:
        affected.add(row.insz)
        conn.execute(update(t).where(t.c.id == row.id).values(**values))
    return "applied", f"{change.type} {data.kind} {data.file_key} ({status})", affected


def _move(conn: Connection, *, insz: str, household_id: int, since: dt.date, head: bool) -> None:
    """Make ``insz`` a member of ``household_id`` from ``since``, ending their other open membership."""
    t = household_member_table
    open_rows = list(conn.execute(select(t).where((t.c.insz == insz) & t.c.until.is_(None))))
    if any(r.household_id == household_id for r in open_rows):
        conn.execute(
            update(t)
            .where((t.c.insz == insz) & t.c.until.is_(None) & (t.c.household_id == household_id))
            .values(head=head)
        )
        return
    for r in open_rows:
        if r.since < since:
            conn.execute(update(t).where(t.c.id == r.id).values(until=since - _DAY))
        else:
            conn.execute(delete(t).where(t.c.id == r.id))
    conn.execute(insert(t).values(household_id=household_id, insz=insz, head=head, since=since, until=None))


def _apply_household(conn: Connection, change: HouseholdChange) -> tuple[Outcome, str, set[str]]:
    data = change.data
    insz = _current_insz(conn, change.insz)
    members = {insz} | {_current_insz(conn, m) for m in data.members}
    head = _current_insz(conn, data.head) if data.head is not None else None
    before = household_mates(conn, members)
    for member in sorted(members):
        _move(conn, insz=member, household_id=data.household_id, since=change.effective, head=member == head)
    affected = before | household_mates(conn, members)
    return "applied", f"household {data.household_id} from {change.effective}", affected


def _upsert_person(conn: Connection, insz: str, **values: Any) -> None:
    t = person_table
    if conn.execute(select(t.c.insz).where(t.c.insz == insz)).first() is None:
        conn.execute(insert(t).values(insz=insz, **{"death_date": None, "replaced_by": None, **values}))
    else:
        conn.execute(update(t).where(t.c.insz == insz).values(**values))


def _apply_death(conn: Connection, change: DeathChange) -> tuple[Outcome, str, set[str]]:
    insz = _current_insz(conn, change.insz)
    _upsert_person(conn, insz, death_date=change.data.death_date)
    return "applied", f"died on {change.data.death_date}", household_mates(conn, [insz])


def _apply_replaced(conn: Connection, change: ReplacedChange) -> tuple[Outcome, str, set[str]]:
    old, new = change.insz, change.data.replaced_by
    if old == new:
        return "ignored", "the INSZ is replaced by itself", set()
    before = household_mates(conn, [old])
    for table in (status_period_table, household_member_table, energy_customer_table):
        conn.execute(update(table).where(table.c.insz == old).values(insz=new))
    died = conn.execute(select(person_table.c.death_date).where(person_table.c.insz == old)).first()
    _upsert_person(conn, old, replaced_by=new)
    if died is not None and died.death_date is not None:
        _upsert_person(conn, new, death_date=died.death_date)
    else:
        _upsert_person(conn, new)
    return "applied", f"{old} replaced by {new}", before | household_mates(conn, [new]) | {old, new}


def apply_change(
    conn: Connection,
    *,
    change: AnyChange,
    key: str,
    seq: int,
    today: dt.date | None = None,
    definitions: Definitions | None = None,
) -> ApplyResult:
    """Apply one change exactly once (by ``key``) and recompute the entitlements it touches.

    Runs in the caller's transaction: the change, the entitlements and the events commit together. The key
    is recorded first, so a concurrent second application of the same key waits, then fails on the primary
    key instead of applying twice.
    """
    defs = definitions or load_definitions()
    t = applied_change_table
    seen = conn.execute(select(t.c.seq, t.c.outcome).where(t.c.key == key)).first()
    if seen is not None:
        return ApplyResult(key, seq, "duplicate", f"already applied (seq {seen.seq}, {seen.outcome})")
    conn.execute(
        insert(t).values(key=key, seq=seq, change_type=change.type, outcome="applied", applied_at=utc_now())
    )
    outcome: Outcome
    if isinstance(change, StatusChange):
        outcome, detail, affected = _apply_status(conn, change, seq, defs)
    elif isinstance(change, HouseholdChange):
        outcome, detail, affected = _apply_household(conn, change)
    elif isinstance(change, DeathChange):
        outcome, detail, affected = _apply_death(conn, change)
    elif isinstance(change, ReplacedChange):
        outcome, detail, affected = _apply_replaced(conn, change)
    else:
        outcome, detail, affected = "ignored", f"{change.type} does not change any status or right", set()
    if outcome != "applied":
        conn.execute(update(t).where(t.c.key == key).values(outcome=outcome))
    if affected:
        affected = household_mates(conn, affected)
    events = recompute(conn, inszs=affected, today=today or _today(), seq=seq, definitions=defs)
    return ApplyResult(key, seq, outcome, detail, tuple(sorted(affected)), events)


# ---------------------------------------------------------------------------------------------- reading


def _view(row: Row[Any], defs: Definitions) -> EntitlementView:
    right = defs.right(row.right)
    return EntitlementView(
        right=row.right,
        title=right.title if right else row.right,
        body_kbo=right.body.kbo if right else "",
        body_name=right.body.name if right else "",
        insz=row.insz,
        start=row.start,
        end=row.end,
        via_insz=row.via_insz,
        status=row.status,
        source_kbo=row.source_kbo,
        rule=row.rule,
        grounds=tuple(row.explanation),
    )


def entitlements_of(
    conn: Connection, *, insz: str, definitions: Definitions | None = None
) -> list[EntitlementView]:
    """Every period of every derived right of a person (following a replaced INSZ), by right and start."""
    defs = definitions or load_definitions()
    insz = _current_insz(conn, insz)
    t = entitlement_table
    rows = conn.execute(select(t).where(t.c.insz == insz).order_by(t.c.right, t.c.start))
    return [_view(r, defs) for r in rows]


def _sentence(ground: Mapping[str, Any], insz: str) -> str:
    whose = "you" if not ground["via_household"] else f"household member {ground['via_insz']}"
    held = f"from {ground['status_start']}" + (
        f" to {ground['status_end']}" if ground["status_end"] else " (still open)"
    )
    until = f" until {ground['end']}" if ground["end"] else ""
    return (
        f"{ground['status_title']}: {whose} at {ground['source_name']} ({ground['kind']}, file "
        f"{ground['file_key']}) {held}; rule {ground['rule']} gives the right from {ground['start']}{until}"
    )


def explain(conn: Connection, *, insz: str, definitions: Definitions | None = None) -> dict[str, Any]:
    """What a citizen sees: their statuses and each right with why — status, source, rule, dates, via whom.

    JSON-ready (dates as ISO strings)."""
    defs = definitions or load_definitions()
    current = _current_insz(conn, insz)
    person = conn.execute(select(person_table).where(person_table.c.insz == current)).first()
    t = status_period_table
    statuses = [
        {
            "status": r.status,
            "status_title": defs.statuses[r.status].title if r.status in defs.statuses else r.status,
            "source_kbo": r.source_kbo,
            "source_name": defs.name_of(r.source_kbo),
            "kind": r.kind,
            "file_key": r.file_key,
            "start": _iso(r.start),
            "end": _iso(r.end),
        }
        for r in conn.execute(
            select(t).where((t.c.insz == current) & t.c.cancelled.is_(False)).order_by(t.c.start, t.c.id)
        )
    ]
    rights = [
        {
            "right": e.right,
            "title": e.title,
            "granted_by": {"kbo": e.body_kbo, "name": e.body_name},
            "start": _iso(e.start),
            "end": _iso(e.end),
            "via_insz": e.via_insz,
            "because": [{**g, "text": _sentence(g, current)} for g in e.grounds],
        }
        for e in entitlements_of(conn, insz=current, definitions=defs)
    ]
    return {
        "insz": current,
        "asked_insz": insz,
        "death_date": _iso(person.death_date) if person is not None else None,
        "statuses": statuses,
        "rights": rights,
    }


def events_for(conn: Connection, *, body_kbo: str, after: int = 0, limit: int = 1000) -> list[EventView]:
    """The feed of a granting body: its events after the cursor ``after`` (an event id), oldest first."""
    t = entitlement_event_table
    rows = conn.execute(
        select(t)
        .where((t.c.body_kbo == body_kbo) & (t.c.id > after))
        .order_by(t.c.id)
        .limit(max(1, min(limit, 10_000)))
    )
    return [
        EventView(
            r.id, r.right, r.body_kbo, r.insz, r.event, r.start, r.end, r.via_insz, r.caused_by_seq, r.at
        )
        for r in rows
    ]


def quarterly_list(
    conn: Connection, *, right: str, quarter: int, definitions: Definitions | None = None
) -> QuarterlyList:
    """Everyone entitled to ``right`` on some day of ``quarter`` (YYYYQ), each period clipped to the quarter;
    split per energy supplier when the right says so (a customer appears from the later of the right's start
    and the contract's start)."""
    defs = definitions or load_definitions()
    right_def = defs.right(right)
    if right_def is None:
        raise RightsError(
            "UNKNOWN_RIGHT", f"unknown right {right!r}; known: {', '.join(sorted(defs.rights))}"
        )
    try:
        q_start, q_end = quarter_bounds(quarter)
    except ValueError as exc:
        raise RightsError("INVALID_QUARTER", str(exc)) from exc
    t = entitlement_table
    rows = conn.execute(
        select(t)
        .where((t.c.right == right) & (t.c.start <= q_end) & (t.c.end.is_(None) | (t.c.end >= q_start)))
        .order_by(t.c.insz, t.c.start)
    )
    entries = tuple(
        ListEntry(r.insz, max(r.start, q_start), min(r.end or _OPEN, q_end), r.via_insz, r.status)
        for r in rows
    )
    suppliers: dict[str, tuple[SupplierEntry, ...]] = {}
    if right_def.list_per == "energy_supplier":
        by_insz: dict[str, list[ListEntry]] = defaultdict(list)
        for entry in entries:
            by_insz[entry.insz].append(entry)
        per_supplier: dict[str, list[SupplierEntry]] = defaultdict(list)
        for c in _rows_in(conn, energy_customer_table, "insz", by_insz):
            for entry in by_insz[c.insz]:
                start = max(entry.start, c.since)
                if start <= entry.end:
                    per_supplier[c.supplier_kbo].append(
                        SupplierEntry(c.customer_id, c.insz, start, entry.end, entry.via_insz)
                    )
        suppliers = {
            kbo: tuple(sorted(items, key=lambda e: (e.customer_id, e.start)))
            for kbo, items in sorted(per_supplier.items())
        }
    return QuarterlyList(right, quarter, right_def.body.kbo, q_start, q_end, entries, suppliers)


# ------------------------------------------------------------------------------------ municipalities' files


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _line_insz(row: Mapping[str, Any], resolve: Resolver) -> tuple[str | None, str | None, str | None]:
    """(INSZ, error code, message) for one line: its INSZ checked, or its name resolved."""
    if row.get("insz"):
        try:
            return validate_insz(str(row["insz"])).number, None, None
        except InvalidIdentifier as exc:
            return None, "INVALID_INSZ", str(exc)
    last_name, birth = row.get("last_name"), row.get("birth_date")
    if not last_name or not birth:
        return None, "INVALID_LINE", "give an insz, or a last_name and a birth_date"
    try:
        birth_date = _as_date(birth)
    except ValueError:
        return None, "INVALID_LINE", f"birth_date {birth!r} is not a date (YYYY-MM-DD)"
    first = row.get("first_name")
    found = resolve(str(last_name), str(first) if first else None, birth_date)
    if found is None:
        return None, "NOT_FOUND", f"nobody named {last_name} born on {birth_date} was found"
    if found == "ambiguous":
        return None, "AMBIGUOUS", f"several people named {last_name} were born on {birth_date}: give the INSZ"
    try:
        return validate_insz(found).number, None, None
    except InvalidIdentifier as exc:
        return None, "NOT_FOUND", f"the register answered an invalid INSZ for {last_name}: {exc}"


def _held(
    conn: Connection, insz: str, statuses: Sequence[str], start: dt.date, end: dt.date
) -> tuple[StatusHeld, ...]:
    current = _current_insz(conn, insz)
    deaths = _deaths(conn, [current])
    per_status: dict[str, list[_Status]] = defaultdict(list)
    for s in _statuses(conn, [current], deaths):
        if s.status in statuses and _overlaps(s.start, s.end, start, end):
            per_status[s.status].append(s)
    held: list[StatusHeld] = []
    for status in statuses:
        merged: list[tuple[dt.date, dt.date, set[str]]] = []
        for s in sorted(per_status.get(status, ()), key=lambda s: s.start):
            lo, hi = max(s.start, start), min(s.end, end)
            if merged and lo <= merged[-1][1] + _DAY:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi), merged[-1][2] | {s.source_kbo})
            else:
                merged.append((lo, hi, {s.source_kbo}))
        held.extend(StatusHeld(status, lo, hi, tuple(sorted(src))) for lo, hi, src in merged)
    return tuple(held)


def match_inhabitants(
    conn: Connection,
    *,
    rows: Iterable[Mapping[str, Any]],
    statuses: Sequence[str],
    period_start: dt.date,
    period_end: dt.date,
    resolve: Resolver,
    definitions: Definitions | None = None,
) -> list[MatchLine]:
    """Match a municipality's file of inhabitants against the harmonised statuses it asked for.

    Each row is ``{insz}`` or ``{last_name, first_name?, birth_date}`` and may carry its own ``statuses``;
    names go through ``resolve`` (the National Register, injected). Every line gets an answer — the asked
    statuses held, clipped to the period — or an error code (INVALID_INSZ, INVALID_LINE, NOT_FOUND,
    AMBIGUOUS, UNKNOWN_STATUS); a bad line never stops the others. Unknown statuses asked for the whole file,
    or a period that ends before it starts, refuse the file (:class:`RightsError`)."""
    defs = definitions or load_definitions()
    unknown = [s for s in statuses if s not in defs.statuses]
    if unknown:
        raise RightsError(
            "UNKNOWN_STATUS",
            f"unknown status {', '.join(unknown)}; known: {', '.join(sorted(defs.statuses))}",
        )
    if period_end < period_start:
        raise RightsError(
            "INVALID_PERIOD", f"the period ends ({period_end}) before it starts ({period_start})"
        )
    out: list[MatchLine] = []
    for number, row in enumerate(rows, start=1):
        asked = row.get("statuses") or statuses
        bad = [s for s in asked if s not in defs.statuses]
        if bad:
            out.append(
                MatchLine(number, None, error="UNKNOWN_STATUS", message=f"unknown status {', '.join(bad)}")
            )
            continue
        insz, code, message = _line_insz(row, resolve)
        if insz is None:
            out.append(MatchLine(number, None, error=code, message=message))
            continue
        out.append(MatchLine(number, insz, _held(conn, insz, list(asked), period_start, period_end)))
    return out
