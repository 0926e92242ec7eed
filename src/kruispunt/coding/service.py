"""Coding and decoding by the trusted third party.

A code is ``HMAC-SHA256(project key, INSZ)``, truncated to 96 bits and written in base 32: the same INSZ gets
the same code in a project (records link within it), and another code in every other project, because each
project has its own random key, created here and never handed out. Decoding (code → INSZ) exists only for a
reason approved by a decision (its reference, for that project, not expired); every request is logged,
granted or refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, insert, select

from kruispunt.coding.models import code_link_table, decoding_approval_table, decoding_table, project_table
from kruispunt.ids import InvalidIdentifier, validate_insz


class CodingError(ValueError):
    """A request the trusted third party refuses: ``code`` says why (for the API and the log)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_project(conn: Connection, *, project: str, purpose: str) -> None:
    """A project with a fresh secret key (a project that exists keeps its key: its codes must not change)."""
    if conn.execute(select(project_table.c.project).where(project_table.c.project == project)).first():
        raise CodingError("PROJECT_EXISTS", f"project {project} exists")
    conn.execute(
        insert(project_table).values(
            project=project, purpose=purpose, key=secrets.token_bytes(32), created_at=_now()
        )
    )


def _key(conn: Connection, project: str) -> bytes:
    key = conn.execute(select(project_table.c.key).where(project_table.c.project == project)).scalar()
    if key is None:
        raise CodingError("UNKNOWN_PROJECT", f"no project {project}")
    return bytes(key)


def code_of(key: bytes, insz: str) -> str:
    digest = hmac.new(key, insz.encode("ascii"), hashlib.sha256).digest()[:12]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def code(conn: Connection, *, project: str, inszs: Sequence[str]) -> list[str]:
    """The project's code of each INSZ, in order; the links are kept for an approved decoding."""
    key = _key(conn, project)
    checked: list[str] = []
    for position, raw in enumerate(inszs):
        try:
            checked.append(validate_insz(raw).number)
        except InvalidIdentifier as exc:
            raise CodingError("INVALID_INSZ", f"item {position}: {exc}") from exc
    codes = [code_of(key, insz) for insz in checked]
    _keep_links(conn, project, zip(codes, checked, strict=True))
    return codes


def _keep_links(conn: Connection, project: str, pairs: Iterable[tuple[str, str]]) -> None:
    wanted = dict(pairs)
    c = code_link_table.c
    known: set[str] = set()
    ordered = sorted(wanted)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i : i + 500]
        known.update(conn.execute(select(c.code).where(c.project == project, c.code.in_(chunk))).scalars())
    new = [{"project": project, "code": k, "insz": v} for k, v in wanted.items() if k not in known]
    if new:
        conn.execute(insert(code_link_table), new)


def approve_decoding(
    conn: Connection, *, reference: str, project: str, purpose: str, expires: dt.date
) -> None:
    """Record a decision that allows decoding in ``project`` until ``expires`` (inclusive)."""
    _key(conn, project)
    conn.execute(
        insert(decoding_approval_table).values(
            reference=reference, project=project, purpose=purpose, expires=expires
        )
    )


def decode(
    conn: Connection,
    *,
    project: str,
    code_value: str,
    reason: str,
    approval: str | None,
    today: dt.date | None = None,
) -> str:
    """The INSZ behind a code, under an approval in force for the project (callers go through
    :func:`decode_logged`, which logs every request)."""
    today = today or _now().date()
    if not reason.strip():
        raise CodingError("NO_REASON", "a decoding needs a reason")
    if approval is None:
        raise CodingError("NO_APPROVAL", "a decoding needs the reference of the decision that allows it")
    a = decoding_approval_table.c
    row = conn.execute(select(a.project, a.expires).where(a.reference == approval)).first()
    if row is None or row.project != project:
        raise CodingError("APPROVAL_NOT_FOR_PROJECT", f"{approval} does not allow decoding in {project}")
    if row.expires < today:
        raise CodingError("APPROVAL_EXPIRED", f"{approval} expired on {row.expires.isoformat()}")
    c = code_link_table.c
    insz = conn.execute(select(c.insz).where(c.project == project, c.code == code_value)).scalar()
    if insz is None:
        raise CodingError("UNKNOWN_CODE", f"no code {code_value} in {project}")
    return str(insz)


def decode_logged(
    conn: Connection,
    *,
    project: str,
    code_value: str,
    requested_by: str,
    reason: str,
    approval: str | None,
    today: dt.date | None = None,
) -> str:
    """:func:`decode` with its log entry written in ``conn``'s transaction, granted or refused (a refusal
    is raised after the entry is written: the caller commits it)."""
    try:
        insz = decode(
            conn,
            project=project,
            code_value=code_value,
            reason=reason,
            approval=approval,
            today=today,
        )
    except CodingError as exc:
        _log(conn, project, code_value, requested_by, reason, approval, exc.code)
        raise
    _log(conn, project, code_value, requested_by, reason, approval, "granted")
    return insz


def _log(
    conn: Connection,
    project: str,
    code_value: str,
    requested_by: str,
    reason: str,
    approval: str | None,
    outcome: str,
) -> None:
    conn.execute(
        insert(decoding_table).values(
            project=project[:64],
            code=code_value[:32],
            requested_by=requested_by[:64],
            reason=reason,
            approval=approval[:32] if approval else None,
            outcome=outcome,
            at=_now(),
        )
    )


def decodings(conn: Connection, *, project: str) -> list[dict[str, object]]:
    """The decoding log of a project, oldest first."""
    d = decoding_table.c
    rows = conn.execute(select(decoding_table).where(d.project == project).order_by(d.id))
    return [dict(r._mapping) for r in rows]
