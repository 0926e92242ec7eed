"""The shared logic of the employers service: the employer repertory, mandates (who may declare), receipts
(submissions), storing declarations with their anomalies, the declarations log, and the outbox.

Each declaration kind has its own module on top of this one (``dimona``, ``dmfa``, ``drs``): they decide on
anomalies; this module stores and logs what they decided, so every kind is kept and audited the same way.
Functions take keyword-only arguments and an explicit connection; the caller owns the transaction, so a
declaration, its anomalies, its Dimona period and its outbox rows are committed together or not at all.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, or_, select, update

from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter
from kruispunt.core.tables import read_meta, write_meta
from kruispunt.employers import codes
from kruispunt.employers.anomalies import Anomaly, Result, as_json
from kruispunt.employers.errors import DeclarationRefused, no_mandate
from kruispunt.employers.models import (
    declaration_table,
    employer_table,
    mandate_table,
    meta_table,
    outbox_table,
    submission_table,
)
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_rsz_employer_number

CHANNEL = "employers"
"""The channel of the declarations log (the hub's log uses ``rest`` / ``soap`` / ``batch``)."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------- employer repertory


@dataclass(frozen=True, slots=True)
class EmployerRef:
    kbo: str
    rsz: str
    name: str
    category: str
    joint_committee: str
    nace: str | None


def _employer(row: Row[Any] | None) -> EmployerRef | None:
    if row is None:
        return None
    return EmployerRef(row.kbo, row.rsz, row.name, row.category, row.joint_committee, row.nace)


def find_employer(conn: Connection, *, kbo: str | None = None, rsz: str | None = None) -> EmployerRef | None:
    """The employer with that KBO or RSZ number (numbers already validated), or None."""
    if kbo is not None:
        return _employer(conn.execute(select(employer_table).where(employer_table.c.kbo == kbo)).first())
    if rsz is not None:
        return _employer(conn.execute(select(employer_table).where(employer_table.c.rsz == rsz)).first())
    return None


def employer_identifier(value: str) -> tuple[str, str]:
    """``("kbo", number)`` or ``("rsz", number)`` for an employer id as declared; InvalidIdentifier otherwise.

    Dimona and DmfA name the employer by KBO enterprise number (10 digits starting 0 or 1) or by RSZ
    number (definitive or provisional); the shape of the number says which.
    """
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 10 and digits[0] in "01":
        return "kbo", validate_enterprise_number(digits)
    return "rsz", validate_rsz_employer_number(value)


def add_employers(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Load employers into the repertory (seeding); returns how many."""
    batch = [dict(r) for r in rows]
    if batch:
        conn.execute(insert(employer_table), batch)
    return len(batch)


def count_employers(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(employer_table)).scalar_one())


# ------------------------------------------------------------------------------------------------ mandates


@dataclass(frozen=True, slots=True)
class MandateRef:
    id: int
    employer_kbo: str
    declarant_kbo: str
    role: int
    start: dt.date
    end: dt.date | None


def _mandate(row: Row[Any]) -> MandateRef:
    return MandateRef(row.id, row.employer_kbo, row.declarant_kbo, row.role, row.start, row.end)


def grant_mandate(
    conn: Connection, *, employer_kbo: str, declarant_kbo: str, role: int, start: dt.date, end: dt.date | None
) -> MandateRef:
    """Record that ``declarant_kbo`` may declare for ``employer_kbo`` from ``start`` to ``end``."""
    if role not in codes.MANDATE_ROLES:
        raise DeclarationRefused(400, "INVALID_ROLE", f"role {role} is not 11 (social secretariat) or 12")
    if end is not None and end < start:
        raise DeclarationRefused(400, "INVALID_PERIOD", "the mandate ends before it starts")
    if declarant_kbo == employer_kbo:
        raise DeclarationRefused(400, "SELF_MANDATE", "an employer needs no mandate to declare for itself")
    if find_employer(conn, kbo=employer_kbo) is None:
        raise DeclarationRefused(404, "UNKNOWN_EMPLOYER", f"employer {employer_kbo} is not in the repertory")
    values = {
        "employer_kbo": employer_kbo,
        "declarant_kbo": declarant_kbo,
        "role": role,
        "start": start,
        "end": end,
        "created_at": utc_now(),
    }
    new_id = conn.execute(insert(mandate_table).values(**values).returning(mandate_table.c.id)).scalar_one()
    return MandateRef(int(new_id), employer_kbo, declarant_kbo, role, start, end)


def end_mandate(conn: Connection, *, mandate_id: int, end: dt.date) -> MandateRef:
    row = conn.execute(select(mandate_table).where(mandate_table.c.id == mandate_id)).first()
    if row is None:
        raise DeclarationRefused(404, "UNKNOWN_MANDATE", f"no mandate {mandate_id}")
    if end < row.start:
        raise DeclarationRefused(400, "INVALID_PERIOD", "the mandate cannot end before it starts")
    conn.execute(update(mandate_table).where(mandate_table.c.id == mandate_id).values(end=end))
    return _mandate(conn.execute(select(mandate_table).where(mandate_table.c.id == mandate_id)).one())


def mandates_of(conn: Connection, *, employer_kbo: str) -> list[MandateRef]:
    rows = conn.execute(
        select(mandate_table).where(mandate_table.c.employer_kbo == employer_kbo).order_by(mandate_table.c.id)
    )
    return [_mandate(r) for r in rows]


def declarant_role(conn: Connection, *, declarant_kbo: str, employer_kbo: str, on: dt.date) -> int | None:
    """The role in which ``declarant_kbo`` may declare for the employer on ``on`` (10 = the employer itself,
    11/12 = mandated), or None."""
    if declarant_kbo == employer_kbo:
        return codes.DECLARANT_EMPLOYER
    m = mandate_table.c
    row = conn.execute(
        select(m.role)
        .where(
            and_(
                m.employer_kbo == employer_kbo,
                m.declarant_kbo == declarant_kbo,
                m.start <= on,
                or_(m.end.is_(None), m.end >= on),
            )
        )
        .limit(1)
    ).first()
    return int(row.role) if row is not None else None


def require_mandate(conn: Connection, *, declarant_kbo: str, employer_kbo: str, on: dt.date) -> int:
    """The declarant's role for the employer, or :func:`errors.no_mandate` raised."""
    role = declarant_role(conn, declarant_kbo=declarant_kbo, employer_kbo=employer_kbo, on=on)
    if role is None:
        raise no_mandate(declarant_kbo, employer_kbo)
    return role


def valid_declarant(value: str | None) -> str | None:
    """The declarant's KBO number from the request, validated; None when absent."""
    if value is None or not value.strip():
        return None
    try:
        return validate_enterprise_number(value)
    except InvalidIdentifier as exc:
        raise DeclarationRefused(400, "INVALID_DECLARANT", f"declarant: {exc}") from exc


# ---------------------------------------------------------------------------------- receipts, declarations


def new_ticket() -> str:
    return str(uuid.uuid4())


def open_submission(
    conn: Connection,
    *,
    channel: str,
    form: str,
    declarant_kbo: str,
    filename: str | None = None,
    ticket: str | None = None,
    result_code: int = 1,
    errors: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Write the receipt of a JSON declaration or an XML file; returns its ticket."""
    ticket = ticket or new_ticket()
    conn.execute(
        insert(submission_table).values(
            ticket=ticket,
            channel=channel,
            form=form,
            declarant_kbo=declarant_kbo,
            filename=filename,
            received_at=utc_now(),
            result_code=result_code,
            errors=list(errors),
            declarations=0,
            refused=0,
        )
    )
    return ticket


def close_submission(conn: Connection, *, ticket: str, declarations: int, refused: int) -> None:
    conn.execute(
        update(submission_table)
        .where(submission_table.c.ticket == ticket)
        .values(declarations=declarations, refused=refused)
    )


def get_submission(conn: Connection, ticket: str) -> Row[Any] | None:
    return conn.execute(select(submission_table).where(submission_table.c.ticket == ticket)).first()


def declarations_of(conn: Connection, ticket: str) -> list[Row[Any]]:
    d = declaration_table.c
    return list(conn.execute(select(declaration_table).where(d.ticket == ticket).order_by(d.sequence)))


def get_declaration(conn: Connection, declaration_id: int) -> Row[Any] | None:
    return conn.execute(select(declaration_table).where(declaration_table.c.id == declaration_id)).first()


def store_declaration(
    conn: Connection,
    *,
    ticket: str,
    sequence: int,
    kind: str,
    declarant_kbo: str,
    employer_kbo: str | None,
    insz: str | None,
    result: Result,
    anomalies: Sequence[Anomaly],
    body: Mapping[str, Any],
    period_id: str | None = None,
    received_at: dt.datetime | None = None,
) -> int:
    """Insert one declaration with its result and anomalies; returns its id."""
    return int(
        conn.execute(
            insert(declaration_table)
            .values(
                ticket=ticket,
                sequence=sequence,
                kind=kind,
                employer_kbo=employer_kbo,
                declarant_kbo=declarant_kbo,
                insz=insz,
                period_id=period_id,
                received_at=received_at or utc_now(),
                result=result,
                anomalies=as_json(anomalies),
                body=dict(body),
                delivery=None,
            )
            .returning(declaration_table.c.id)
        ).scalar_one()
    )


def set_delivery(conn: Connection, *, declaration_id: int, delivery: Mapping[str, Any]) -> None:
    conn.execute(
        update(declaration_table)
        .where(declaration_table.c.id == declaration_id)
        .values(delivery=dict(delivery))
    )


# ------------------------------------------------------------------------------------------------- outbox


def enqueue(
    conn: Connection, *, declaration_id: int, target: str, key: str, payload: Mapping[str, Any]
) -> int:
    """Ask the delivery worker (``employers.delivery``) to send ``payload`` to ``target``; same transaction
    as the declaration, so an accepted declaration is never left without its delivery."""
    return int(
        conn.execute(
            insert(outbox_table)
            .values(
                declaration_id=declaration_id,
                target=target,
                key=key,
                payload=dict(payload),
                state="pending",
                attempts=0,
                due_at=utc_now(),
                last_error=None,
                result=None,
            )
            .returning(outbox_table.c.id)
        ).scalar_one()
    )


def enqueue_many(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """:func:`enqueue` for many deliveries at once (one ``executemany``): each row has ``declaration_id``,
    ``target``, ``key`` and ``payload``."""
    if not rows:
        return 0
    now = utc_now()
    conn.execute(
        insert(outbox_table),
        [
            {
                "declaration_id": r["declaration_id"],
                "target": r["target"],
                "key": r["key"],
                "payload": dict(r["payload"]),
                "state": "pending",
                "attempts": 0,
                "due_at": now,
                "last_error": None,
                "result": None,
            }
            for r in rows
        ],
    )
    return len(rows)


def delivery_state(conn: Connection) -> dict[str, int]:
    """How many deliveries are pending, done and dead (given up), for the health route and the operators."""
    o = outbox_table.c
    counts = {"pending": 0, "done": 0, "dead": 0}
    for state, n in conn.execute(select(o.state, func.count()).group_by(o.state)):
        counts[str(state)] = int(n)
    return counts


# --------------------------------------------------------------------------------------------------- log


class DeclarationLog:
    """The declarations log: every declaration and every refused request, in a hash-chained log of its own
    (the same format and ``kruispunt audit verify`` as the hub's log; its own database, ``employers_log``).

    ``message_type`` is the declaration kind (``DimonaIn``, ``DMFA``, ``WECH001`` …), ``requester`` the
    declarant, ``destinations`` the employer, ``outcome`` ``ACCEPTED`` / ``ACCEPTED_WITH_ANOMALIES`` /
    ``REFUSED``, ``reason_code`` the first blocking anomaly or the refusal's code.
    """

    OUTCOMES: Mapping[str, str] = {"A": "ACCEPTED", "W": "ACCEPTED_WITH_ANOMALIES", "B": "REFUSED"}

    def __init__(self, writer: AuditWriter | None) -> None:
        self.writer = writer

    def record(
        self,
        *,
        ticket: str,
        kind: str,
        declarant: str | None,
        employer: str | None,
        insz: str | None,
        result: str,
        reason: str | None = None,
        channel: str = CHANNEL,
    ) -> None:
        """Log one declaration; returns once it is committed to the log."""
        future = self.record_nowait(
            ticket=ticket,
            kind=kind,
            declarant=declarant,
            employer=employer,
            insz=insz,
            result=result,
            reason=reason,
            channel=channel,
        )
        if future is not None:
            future.result()

    def record_nowait(
        self,
        *,
        ticket: str,
        kind: str,
        declarant: str | None,
        employer: str | None,
        insz: str | None,
        result: str,
        reason: str | None = None,
        channel: str = CHANNEL,
    ) -> concurrent.futures.Future[int] | None:
        """:meth:`record` without waiting: the future is done once the entry is committed (``None`` when
        there is no log). Many entries queued before waiting share one commit of the log."""
        if self.writer is None:
            return None
        return self.writer.append_nowait(
            AuditRecord(
                ticket=ticket,
                time=utc_now(),
                channel=channel,
                outcome=self.OUTCOMES.get(result, result),
                message_type=kind,
                version="1",
                requester=declarant,
                destinations=(employer,) if employer else (),
                person=insz,
                reason_code=reason,
            )
        )

    def refused(
        self, *, kind: str, declarant: str | None, employer: str | None, insz: str | None, code: str
    ) -> str:
        """Log a request refused as a whole (no mandate, unknown employer …); returns the ticket logged."""
        ticket = new_ticket()
        self.record(
            ticket=ticket,
            kind=kind,
            declarant=declarant,
            employer=employer,
            insz=insz,
            result="B",
            reason=code,
        )
        return ticket


def first_blocking(anomalies: Sequence[Anomaly]) -> str | None:
    for a in anomalies:
        if a.klass == "B":
            return a.error_id
    return None


# ------------------------------------------------------------------------------------------------- meta


def get_meta(conn: Connection) -> dict[str, str]:
    return read_meta(conn, meta_table)


def set_meta(conn: Connection, values: Mapping[str, str]) -> None:
    write_meta(conn, meta_table, values)
