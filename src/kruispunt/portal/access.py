"""Access management of the enterprises, as socialsecurity.be does it: who may act for which enterprise.

Why this chain: the enterprise register (KBO) says who the **legal representatives** are (read from the
roles file, :class:`~kruispunt.portal.roles.PortalRoles`); only they appoint or remove the **main access
manager** (HTB/GAP, more than one = co-HTBs); a main access manager appoints or removes **access managers**;
any access manager (main or not) grants or revokes a **role** — the group of services a user may use for
the enterprise (``dimona``, ``dmfa``, ``drs``, ``mandates``). A person with no position at all in an
enterprise cannot act for it. Legal representatives also manage the enterprise's mandates to social
secretariats and service providers (Mahis), as the ``mandates`` role does.

Every change is one transaction with its ``access_event`` row (never half a write); every refusal is
logged as an ``access_event`` too, and raised as :class:`AccessRefused` with a code the pages translate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from kruispunt.core.db import make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.ids import InvalidIdentifier, validate_enterprise_number, validate_insz
from kruispunt.portal.models import (
    access_event_table,
    access_manager_table,
    portal_submission_table,
    user_role_table,
)

log = logging.getLogger("kruispunt.portal.access")

COMPONENT = "portal"
ROLES: tuple[str, ...] = ("dimona", "dmfa", "drs", "mandates")
"""The groups of services a role opens (each a page of the employer area)."""


class AccessRefused(Exception):
    """A change or a use refused: ``status`` (400 bad input, 403 not allowed, 404, 409 conflict) and a
    ``code`` the pages translate (message ``employer_refused_<code>``)."""

    def __init__(self, status: int, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Positions:
    """What one person is in one enterprise (today)."""

    enterprise: str
    legal_representative: bool = False
    main_manager: bool = False
    manager: bool = False
    roles: frozenset[str] = frozenset()

    @property
    def any(self) -> bool:
        return self.legal_representative or self.main_manager or self.manager or bool(self.roles)

    @property
    def manages(self) -> bool:
        """May grant and revoke roles."""
        return self.main_manager or self.manager

    def may_use(self, role: str) -> bool:
        """Whether the person may use the services of ``role`` for the enterprise."""
        if role == "mandates" and self.legal_representative:
            return True
        return role in self.roles


@dataclass(frozen=True)
class Manager:
    enterprise: str
    insz: str
    main: bool
    appointed_by: str
    appointed_at: dt.datetime


@dataclass(frozen=True)
class RoleGrant:
    id: int
    enterprise: str
    insz: str
    role: str
    start: dt.date
    end: dt.date | None
    granted_by: str


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    actor: str
    action: str
    subject: str | None
    outcome: str
    detail: str


@dataclass(frozen=True)
class Submission:
    at: dt.datetime
    enterprise: str
    employer: str | None
    by: str
    kind: str
    ticket: str
    result: str


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _insz(value: str) -> str:
    try:
        return validate_insz(value.strip()).number
    except InvalidIdentifier as exc:
        raise AccessRefused(400, "invalid_insz", str(exc)) from exc


def _kbo(value: str) -> str:
    try:
        return validate_enterprise_number(value.strip())
    except InvalidIdentifier as exc:
        raise AccessRefused(400, "invalid_kbo", str(exc)) from exc


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class AccessStore:
    """The access management of every enterprise, in the portal's database."""

    def __init__(
        self,
        engine: Engine,
        legal_representatives: Mapping[str, frozenset[str]],
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.engine = engine
        self.legal_representatives = dict(legal_representatives)
        self.clock = clock
        self.today = today

    @classmethod
    def open(cls, url: str, legal_representatives: Mapping[str, frozenset[str]]) -> AccessStore:
        """The store on the database at ``url``, migrated to head first."""
        upgrade(url, COMPONENT)
        return cls(make_engine(url), legal_representatives)

    # ------------------------------------------------------------------------------------- reading

    def _positions(self, conn: Connection, insz: str, kbo: str) -> Positions:
        m = access_manager_table.c
        managers = conn.execute(
            select(m.main).where(and_(m.enterprise_kbo == kbo, m.insz == insz, m.ended_at.is_(None)))
        ).all()
        return Positions(
            enterprise=kbo,
            legal_representative=insz in self.legal_representatives.get(kbo, frozenset()),
            main_manager=any(r.main for r in managers),
            manager=any(not r.main for r in managers),
            roles=frozenset(g.role for g in self._active_roles(conn, kbo, insz=insz)),
        )

    def _active_roles(self, conn: Connection, kbo: str | None, *, insz: str | None = None) -> list[RoleGrant]:
        r = user_role_table.c
        today = self.today()
        query = select(user_role_table).where(
            and_(r.revoked_at.is_(None), r.start <= today, or_(r.end.is_(None), r.end >= today))
        )
        if kbo is not None:
            query = query.where(r.enterprise_kbo == kbo)
        if insz is not None:
            query = query.where(r.insz == insz)
        return [
            RoleGrant(int(g.id), g.enterprise_kbo, g.insz, g.role, g.start, g.end, g.granted_by)
            for g in conn.execute(query.order_by(r.insz, r.role, r.id))
        ]

    def positions(self, insz: str, kbo: str) -> Positions:
        with self.engine.connect() as conn:
            return self._positions(conn, insz, kbo)

    def enterprises_of(self, insz: str) -> list[Positions]:
        """Every enterprise where ``insz`` holds a position today, sorted by KBO."""
        kbos = {k for k, people in self.legal_representatives.items() if insz in people}
        m = access_manager_table.c
        with self.engine.connect() as conn:
            kbos |= set(
                conn.scalars(
                    select(m.enterprise_kbo).where(and_(m.insz == insz, m.ended_at.is_(None))).distinct()
                )
            )
            kbos |= {g.enterprise for g in self._active_roles(conn, None, insz=insz)}
            found = [self._positions(conn, insz, k) for k in sorted(kbos)]
        return [p for p in found if p.any]

    def managers(self, kbo: str) -> list[Manager]:
        m = access_manager_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(access_manager_table)
                .where(and_(m.enterprise_kbo == kbo, m.ended_at.is_(None)))
                .order_by(m.main.desc(), m.insz)
            ).all()
        return [
            Manager(r.enterprise_kbo, r.insz, bool(r.main), r.appointed_by, _aware(r.appointed_at))
            for r in rows
        ]

    def roles(self, kbo: str) -> list[RoleGrant]:
        with self.engine.connect() as conn:
            return self._active_roles(conn, kbo)

    def events(self, kbo: str, limit: int = 50) -> list[Event]:
        e = access_event_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(access_event_table).where(e.enterprise_kbo == kbo).order_by(e.id.desc()).limit(limit)
            ).all()
        return [Event(_aware(r.at), r.actor, r.action, r.subject_insz, r.outcome, r.detail) for r in rows]

    # ------------------------------------------------------------------------------------- changes

    def _event(
        self,
        conn: Connection,
        *,
        actor: str,
        kbo: str,
        action: str,
        subject: str | None,
        outcome: str,
        detail: Mapping[str, Any],
    ) -> None:
        conn.execute(
            insert(access_event_table).values(
                at=self.clock(),
                enterprise_kbo=kbo[:10],
                actor=actor[:64],
                action=action[:32],
                subject_insz=subject[:11] if subject else None,
                outcome=outcome,
                detail=json.dumps(dict(detail), sort_keys=True, default=str),
            )
        )

    def refused(
        self, *, actor: str, kbo: str, action: str, code: str, subject: str | None = None, **detail: Any
    ) -> None:
        """Log a refusal (its own transaction: nothing else was written)."""
        log.warning("portal: %s refused to %s for %s: %s", action, actor, kbo, code)
        with self.engine.begin() as conn:
            self._event(
                conn,
                actor=actor,
                kbo=kbo,
                action=action,
                subject=subject,
                outcome="refused",
                detail={"code": code, **detail},
            )

    def _change(
        self,
        *,
        actor: str,
        kbo: str,
        action: str,
        subject: str | None,
        apply: Callable[[Connection, Positions], Mapping[str, Any]],
    ) -> None:
        """Run ``apply`` and log it in one transaction; a refusal is logged, then raised."""
        try:
            with self.engine.begin() as conn:
                detail = apply(conn, self._positions(conn, actor, kbo))
                self._event(
                    conn, actor=actor, kbo=kbo, action=action, subject=subject, outcome="done", detail=detail
                )
        except AccessRefused as exc:
            self.refused(actor=actor, kbo=kbo, action=action, code=exc.code, subject=subject)
            raise
        log.info("portal: %s by %s for %s (%s)", action, actor, kbo, subject)

    def _active_manager(self, conn: Connection, kbo: str, insz: str) -> Any:
        m = access_manager_table.c
        return conn.execute(
            select(access_manager_table).where(
                and_(m.enterprise_kbo == kbo, m.insz == insz, m.ended_at.is_(None))
            )
        ).first()

    def _end_manager_row(self, conn: Connection, row_id: int, actor: str) -> None:
        m = access_manager_table.c
        conn.execute(
            update(access_manager_table).where(m.id == row_id).values(ended_at=self.clock(), ended_by=actor)
        )

    def appoint_manager(self, *, actor: str, kbo: str, insz: str, main: bool) -> None:
        """A legal representative appoints a main access manager; a main access manager an access manager."""
        kbo = _kbo(kbo)
        action = "appoint_main_manager" if main else "appoint_manager"
        person = _insz(insz) if insz.strip() else ""
        if not person:
            self.refused(actor=actor, kbo=kbo, action=action, code="invalid_insz")
            raise AccessRefused(400, "invalid_insz")

        def apply(conn: Connection, me: Positions) -> Mapping[str, Any]:
            if main and not me.legal_representative:
                raise AccessRefused(403, "not_legal_representative")
            if not main and not me.main_manager:
                raise AccessRefused(403, "not_main_manager")
            existing = self._active_manager(conn, kbo, person)
            if existing is not None and (existing.main or not main):
                raise AccessRefused(409, "already_manager")
            if existing is not None:  # an access manager becomes main access manager
                self._end_manager_row(conn, int(existing.id), actor)
            conn.execute(
                insert(access_manager_table).values(
                    enterprise_kbo=kbo,
                    insz=person,
                    main=main,
                    appointed_by=actor[:11],
                    appointed_at=self.clock(),
                )
            )
            return {"main": main}

        self._change(actor=actor, kbo=kbo, action=action, subject=person, apply=apply)

    def end_manager(self, *, actor: str, kbo: str, insz: str) -> None:
        """Only a legal representative removes a main access manager; a main access manager an access
        manager."""
        kbo = _kbo(kbo)
        person = _insz(insz)

        def apply(conn: Connection, me: Positions) -> Mapping[str, Any]:
            existing = self._active_manager(conn, kbo, person)
            if existing is None:
                raise AccessRefused(404, "no_such_manager")
            if existing.main and not me.legal_representative:
                raise AccessRefused(403, "not_legal_representative")
            if not existing.main and not me.main_manager:
                raise AccessRefused(403, "not_main_manager")
            self._end_manager_row(conn, int(existing.id), actor)
            return {"main": bool(existing.main)}

        self._change(actor=actor, kbo=kbo, action="end_manager", subject=person, apply=apply)

    def grant_role(
        self, *, actor: str, kbo: str, insz: str, role: str, start: dt.date | None, end: dt.date | None
    ) -> None:
        """An access manager (main or not) lets ``insz`` use the services of ``role``."""
        kbo = _kbo(kbo)
        person = _insz(insz)
        first = start or self.today()

        def apply(conn: Connection, me: Positions) -> Mapping[str, Any]:
            if not me.manages:
                raise AccessRefused(403, "not_manager")
            if role not in ROLES:
                raise AccessRefused(400, "unknown_role")
            if end is not None and end < first:
                raise AccessRefused(400, "end_before_start")
            r = user_role_table.c
            overlapping = conn.execute(
                select(r.id).where(
                    and_(
                        r.enterprise_kbo == kbo,
                        r.insz == person,
                        r.role == role,
                        r.revoked_at.is_(None),
                        or_(r.end.is_(None), r.end >= first),
                        *([r.start <= end] if end is not None else []),
                    )
                )
            ).first()
            if overlapping is not None:
                raise AccessRefused(409, "already_has_role")
            conn.execute(
                insert(user_role_table).values(
                    enterprise_kbo=kbo,
                    insz=person,
                    role=role,
                    start=first,
                    end=end,
                    granted_by=actor[:11],
                    granted_at=self.clock(),
                )
            )
            return {"role": role, "start": first, "end": end}

        self._change(actor=actor, kbo=kbo, action="grant_role", subject=person, apply=apply)

    def revoke_role(self, *, actor: str, kbo: str, grant_id: int) -> None:
        kbo = _kbo(kbo)
        r = user_role_table.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(user_role_table).where(and_(r.id == grant_id, r.enterprise_kbo == kbo))
            ).first()
        subject = row.insz if row is not None else None

        def apply(conn: Connection, me: Positions) -> Mapping[str, Any]:
            if not me.manages:
                raise AccessRefused(403, "not_manager")
            done = conn.execute(
                update(user_role_table)
                .where(and_(r.id == grant_id, r.enterprise_kbo == kbo, r.revoked_at.is_(None)))
                .values(revoked_at=self.clock(), revoked_by=actor[:11])
            )
            if done.rowcount != 1:
                raise AccessRefused(404, "no_such_role")
            return {"role": row.role if row is not None else None, "grant": grant_id}

        self._change(actor=actor, kbo=kbo, action="revoke_role", subject=subject, apply=apply)

    def log_use(self, *, actor: str, kbo: str, action: str, outcome: str, **detail: Any) -> None:
        """Log a use of a service for the enterprise (a mandate granted or ended at the employers service)."""
        with self.engine.begin() as conn:
            self._event(
                conn, actor=actor, kbo=kbo, action=action, subject=None, outcome=outcome, detail=detail
            )

    # --------------------------------------------------------------------------------- submissions

    def record_submission(
        self, *, enterprise: str, employer: str | None, by: str, kind: str, ticket: str, result: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(portal_submission_table).values(
                    at=self.clock(),
                    enterprise_kbo=enterprise,
                    employer_kbo=employer,
                    by_insz=by[:64],
                    kind=kind[:32],
                    ticket=ticket[:64],
                    result=result[:8],
                )
            )

    def submissions(self, kbo: str, limit: int = 100) -> list[Submission]:
        s = portal_submission_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(portal_submission_table)
                .where(s.enterprise_kbo == kbo)
                .order_by(s.id.desc())
                .limit(limit)
            ).all()
        return [
            Submission(_aware(r.at), r.enterprise_kbo, r.employer_kbo, r.by_insz, r.kind, r.ticket, r.result)
            for r in rows
        ]
