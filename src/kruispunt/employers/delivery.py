"""The outbox worker of the employers service: what was accepted reaches the network, at least once.

An accepted declaration writes its deliveries to ``outbox`` in its own transaction (``service.enqueue``); this
worker, a thread of the service, claims the rows that are due, in id order, and delivers them:

* ``rsz_dimona`` / ``rsz_dmfa`` — to the RSZ source: ``PUT {rsz}/files/{kind}/{key}`` (open or amend the
  Dimona period or DmfA quarter; the source registers the worker in the persons directory) or
  ``POST {rsz}/files/{kind}/{key}/cancel``. Both are idempotent by key, so delivering twice changes nothing.
* ``hub_message`` — a social-risk declaration through the hub (``POST {hub}/hub/messages``, the RSZ as
  sender) to the competent institution, which stores it and registers the person.

The proof that the RSZ knows the worker (the directory wants one) is the worker's name and birth date as the
National Register (or bis register) gives them: asked through the hub (``identify_person``, deliberation
24/010) and kept in memory for the rest of the round only.

Order: rows with the same ordering key (the file key, or the person for a hub message) are delivered one
after the other in id order; when one fails, the later ones of that key wait for the next round. Failures are
retried with exponential backoff and jitter; a refusal that will not change (4xx other than 408/409/429), or
too many attempts, puts the row in ``dead`` with its reason — visible in ``GET /deliveries``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import and_, select, update

from kruispunt.core.loops import PollingThread
from kruispunt.employers import RSZ_KBO
from kruispunt.employers.models import declaration_table, outbox_table
from kruispunt.employers.service import utc_now

if TYPE_CHECKING:
    from kruispunt.employers.context import EmployersContext

log = logging.getLogger("kruispunt.employers.delivery")

MAX_ATTEMPTS = 12
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 300.0
IDENTIFY_CONTEXT = "RSZ:DIMONA"
"""Legal context under which the RSZ identifies a declared worker (deliberation 24/010)."""
_RETRYABLE = frozenset({408, 409, 425, 429})


class Permanent(Exception):
    """The other side refused in a way a retry will not change."""


class Transient(Exception):
    """Could not deliver now (unreachable, timeout, 5xx, 408/429); try again later."""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    declaration_id: int
    target: str
    key: str
    payload: dict[str, Any]
    attempts: int

    @property
    def ordering_key(self) -> str:
        return str(self.payload.get("key") or self.payload.get("insz") or self.key)


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped, with full jitter in its upper half."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2.0 ** max(0, attempts - 1))
    draw = rng.random() if rng is not None else random.random()
    return ceiling * (0.5 + 0.5 * draw)


class NetworkClient:
    """HTTP to the RSZ source and the hub, with the worker's proof cache."""

    def __init__(self, *, hub_url: str | None, rsz_url: str | None, timeout_s: float = 10.0) -> None:
        self.hub_url = hub_url.rstrip("/") if hub_url else None
        self.rsz_url = rsz_url.rstrip("/") if rsz_url else None
        self.http = httpx.Client(timeout=timeout_s)
        self._proofs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.request(method, url, json=body)
        except httpx.HTTPError as exc:
            raise Transient(f"{url} unreachable: {type(exc).__name__}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {"text": response.text[:300]}
        if response.status_code >= 500 or response.status_code in _RETRYABLE:
            raise Transient(f"{url} answered HTTP {response.status_code}: {_short(data)}")
        if response.status_code >= 400:
            raise Permanent(f"{url} refused (HTTP {response.status_code}): {_short(data)}")
        return data if isinstance(data, dict) else {"reply": data}

    def envelope(
        self, *, message_type: str, insz: str, request: dict[str, Any], legal_context: str, ticket: str
    ) -> dict[str, Any]:
        return {
            "informationCustomer": {
                "ticket": ticket,
                "timestampSent": utc_now().isoformat(),
                "customerIdentification": {"cbeNumber": RSZ_KBO},
                "userId": "kruispunt-employers",
            },
            "legalContext": legal_context,
            "messageType": {"name": message_type, "version": "1"},
            "ssin": insz,
            "request": request,
        }

    def hub_message(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Send one message through the hub; the answer's CBSS ticket and status, or an exception."""
        if self.hub_url is None:
            raise Transient("no hub URL configured")
        answer = self._send("POST", f"{self.hub_url}/hub/messages", envelope)
        fault = answer.get("fault")
        if fault:
            reason = fault[0].get("reason", "") if isinstance(fault, list) and fault else str(fault)
            diagnostic = fault[0].get("diagnostic", "") if isinstance(fault, list) and fault else ""
            raise Permanent(f"hub refused: {reason} {diagnostic}".strip())
        return answer

    def proof(self, insz: str) -> dict[str, Any]:
        """``{"person_data": {last_name, first_name, birth_date}}`` from the National Register via the hub."""
        with self._lock:
            if insz in self._proofs:
                self._proofs.move_to_end(insz)
                return self._proofs[insz]
        answer = self.hub_message(
            self.envelope(
                message_type="identify_person",
                insz=insz,
                request={"insz": insz},
                legal_context=IDENTIFY_CONTEXT,
                ticket=f"proof-{insz}",
            )
        )
        persons = (answer.get("data") or {}).get("persons") or []
        if not persons:
            raise Permanent(f"the worker {insz} is not known to the National Register or the bis register")
        person = persons[0]
        first = (person.get("first_names") or "").split(" ")[0] or None
        proof = {
            "person_data": {
                "last_name": person["last_name"],
                "birth_date": person["birth_date"],
                **({"first_name": first} if first else {}),
            }
        }
        with self._lock:
            self._proofs[insz] = proof
            while len(self._proofs) > 10_000:
                self._proofs.popitem(last=False)
        return proof

    def forget_proofs(self) -> None:
        with self._lock:
            self._proofs.clear()

    def rsz_file(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.rsz_url is None:
            raise Transient("no RSZ source URL configured")
        kind, key, insz = payload["kind"], payload["key"], payload["insz"]
        proof = self.proof(insz)
        if payload.get("op") == "cancel":
            return self._send("POST", f"{self.rsz_url}/files/{kind}/{key}/cancel", {"proof": proof})
        body = {
            "insz": insz,
            "start": payload["start"],
            "end": payload.get("end"),
            "attrs": payload.get("attrs", {}),
            "proof": proof,
        }
        return self._send("PUT", f"{self.rsz_url}/files/{kind}/{key}", body)

    def drs(self, row: Claimed) -> dict[str, Any]:
        p = row.payload
        request = dict(p["request"])
        request["proof"] = self.proof(p["insz"])
        answer = self.hub_message(
            self.envelope(
                message_type=p["message_type"],
                insz=p["insz"],
                request=request,
                legal_context=p["legal_context"],
                ticket=row.key,
            )
        )
        status = (answer.get("status") or {}).get("value")
        if status != "DATA_FOUND":
            # no competent institution took it (e.g. no mutuality knows the worker): a dead letter, not "done"
            raise Permanent(f"the hub delivered the declaration to no institution ({status})")
        return {
            "ticket": (answer.get("informationCBSS") or {}).get("ticketCBSS"),
            "status": status,
            "data": answer.get("data"),
        }

    def deliver(self, row: Claimed) -> dict[str, Any]:
        if row.target in ("rsz_dimona", "rsz_dmfa"):
            return self.rsz_file(row.payload)
        if row.target == "hub_message":
            return self.drs(row)
        raise Permanent(f"unknown delivery target {row.target!r}")


def _short(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return f"{data['error'].get('code')} {data['error'].get('message', '')}"[:300]
    return str(data)[:300]


class DeliveryWorker(PollingThread):
    """Claims due outbox rows, delivers them (several ordering keys in parallel), records the outcome."""

    thread_name = "kruispunt-delivery"
    join_timeout_s = 15.0

    def __init__(
        self,
        ctx: EmployersContext,
        *,
        client: NetworkClient | None = None,
        batch: int = 200,
        parallel: int = 8,
        idle_s: float = 0.2,
    ) -> None:
        super().__init__(idle_s=idle_s)
        self.ctx = ctx
        self.client = client or NetworkClient(hub_url=ctx.hub_url, rsz_url=ctx.rsz_url)
        self.batch = batch
        self.parallel = parallel
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="kruispunt-delivery")
        super().start()

    def stop(self) -> None:
        super().stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    def claim(self) -> list[Claimed]:
        o = outbox_table.c
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(o.id, o.declaration_id, o.target, o.key, o.payload, o.attempts)
                .where(and_(o.state == "pending", o.due_at <= utc_now()))
                .order_by(o.id)
                .limit(self.batch)
            ).all()
        return [Claimed(r.id, r.declaration_id, r.target, r.key, dict(r.payload), r.attempts) for r in rows]

    def run_once(self) -> int:
        """One round: deliver what is due; returns how many rows were handled (delivered or failed)."""
        rows = self.claim()
        if not rows:
            return 0
        groups: OrderedDict[str, list[Claimed]] = OrderedDict()
        for row in rows:
            groups.setdefault(row.ordering_key, []).append(row)
        outcomes: list[tuple[Claimed, dict[str, Any] | None, Exception | None]] = []
        pool = self._pool
        if pool is None:
            for group in groups.values():
                outcomes.extend(self._deliver_group(group))
        else:
            for result in pool.map(self._deliver_group, groups.values()):
                outcomes.extend(result)
        self._record(outcomes)
        self.client.forget_proofs()
        return len(outcomes)

    def _deliver_group(
        self, group: list[Claimed]
    ) -> list[tuple[Claimed, dict[str, Any] | None, Exception | None]]:
        out: list[tuple[Claimed, dict[str, Any] | None, Exception | None]] = []
        for row in group:
            try:
                out.append((row, self.client.deliver(row), None))
            except (Permanent, Transient) as exc:
                out.append((row, None, exc))
                break  # the later rows of this key wait: order per key is kept
            except Exception as exc:  # a bug in a payload must not block the others
                log.exception("delivery %s failed", row.id)
                out.append((row, None, Transient(f"internal error: {type(exc).__name__}")))
                break
        return out

    def _record(self, outcomes: list[tuple[Claimed, dict[str, Any] | None, Exception | None]]) -> None:
        o = outbox_table.c
        now = utc_now()
        with self.ctx.engine.begin() as conn:
            for row, result, error in outcomes:
                attempts = row.attempts + 1
                if error is None:
                    conn.execute(
                        update(outbox_table)
                        .where(o.id == row.id)
                        .values(state="done", attempts=attempts, result=result, last_error=None)
                    )
                    delivery: dict[str, Any] = {
                        "state": "delivered",
                        "target": row.target,
                        "at": now.isoformat(),
                        "attempts": attempts,
                    }
                else:
                    dead = isinstance(error, Permanent) or attempts >= MAX_ATTEMPTS
                    due = now + dt.timedelta(seconds=backoff_s(attempts))
                    conn.execute(
                        update(outbox_table)
                        .where(o.id == row.id)
                        .values(
                            state="dead" if dead else "pending",
                            attempts=attempts,
                            due_at=due,
                            last_error=str(error)[:2000],
                        )
                    )
                    delivery = {
                        "state": "failed" if dead else "retrying",
                        "target": row.target,
                        "at": now.isoformat(),
                        "attempts": attempts,
                        "error": str(error)[:500],
                    }
                    if not dead:
                        delivery["next_attempt"] = due.isoformat()
                if row.target != "rsz_dmfa":  # a DmfA has one row per worker: its state is counted instead
                    if result is not None and row.target == "hub_message":
                        delivery["hub"] = {"ticket": result.get("ticket"), "status": result.get("status")}
                    conn.execute(
                        update(declaration_table)
                        .where(declaration_table.c.id == row.declaration_id)
                        .values(delivery=delivery)
                    )


def outbox_rows(ctx: EmployersContext, *, state: str | None, limit: int) -> list[dict[str, Any]]:
    """The deliveries of the outbox, newest first (for ``GET /deliveries``)."""
    o = outbox_table.c
    query = select(outbox_table).order_by(o.id.desc()).limit(limit)
    if state is not None:
        query = query.where(o.state == state)
    with ctx.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": r.id,
            "declaration": r.declaration_id,
            "target": r.target,
            "key": r.key,
            "state": r.state,
            "attempts": r.attempts,
            "due_at": r.due_at.isoformat() if r.due_at else None,
            "last_error": r.last_error,
        }
        for r in rows
    ]
