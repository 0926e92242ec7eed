"""The single writer of REST Dimona declarations: group commit.

A declaration over REST is small and the database has one writer at a time (SQLite) or serialises the
declarations of a worker anyway (PostgreSQL). Rather than each request's thread taking turns on a lock,
opening a transaction and committing, the requests hand their declaration to one thread, which takes
whatever is waiting (up to ``batch_max``), writes the receipts of all of them in one statement, runs each
declaration's rules and writes in that one transaction, queues their deliveries in one more statement,
commits once, logs them all in one commit of the declarations log, and only then answers each request.

Each declaration is still all-or-nothing: one the declarant may not make (no mandate) is refused before it
writes anything, and its receipt is taken back; a batch in which anything else fails (or whose commit
fails) is rolled back whole and written again one declaration per transaction, so that the fault is
reported to the request that caused it alone and the others are kept.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import queue
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Connection, delete, insert

from kruispunt.employers import dimona, service
from kruispunt.employers.context import EmployersContext
from kruispunt.employers.dimona import FORM, DimonaDeclaration, Outcome
from kruispunt.employers.errors import DeclarationRefused
from kruispunt.employers.models import outbox_table, submission_table

log = logging.getLogger(__name__)

BATCH_MAX = 64
"""At most this many declarations share a transaction (and the answer of the first waits for the last)."""


@dataclass(slots=True)
class _Job:
    declaration: DimonaDeclaration
    declarant: str
    ticket: str = field(default_factory=service.new_ticket)
    future: concurrent.futures.Future[Outcome] = field(default_factory=concurrent.futures.Future)


_STOP = object()


class DimonaWriter:
    """One thread that writes the REST declarations handed to it by :meth:`submit`."""

    def __init__(self, ctx: EmployersContext, *, batch_max: int = BATCH_MAX) -> None:
        self.ctx = ctx
        self.batch_max = batch_max
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(
        self, declaration: DimonaDeclaration, declarant: str
    ) -> tuple[str, concurrent.futures.Future[Outcome]]:
        """Queue one declaration; returns its receipt's ticket and a future that holds its
        :class:`Outcome` once it is committed and logged, or the :class:`DeclarationRefused` that refused it
        as a whole (already logged)."""
        job = _Job(declaration, declarant)
        with self._lock:
            if self._closed:
                raise RuntimeError("the Dimona writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kruispunt-dimona-writer", daemon=True)
                self._thread.start()
            self._queue.put(job)
        return job.ticket, job.future

    def close(self, timeout: float | None = 30.0) -> None:
        """Write what was already submitted, then stop the thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    # internals ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            assert isinstance(item, _Job)
            jobs = [item]
            while len(jobs) < self.batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, _Job)
                jobs.append(item)
            try:
                self._write(jobs)
            except BaseException as exc:  # never leave a request waiting
                log.exception("the Dimona writer failed on a batch of %d", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _write(self, jobs: list[_Job]) -> None:
        today = self.ctx.today()
        try:
            with dimona.transaction(self.ctx.engine) as conn:
                outcomes = self._batch(conn, jobs, today)
        except Exception:
            if len(jobs) == 1:
                raise
            log.warning("a batch of %d declarations failed to commit; writing them one by one", len(jobs))
            for job in jobs:
                try:
                    with dimona.transaction(self.ctx.engine) as conn:
                        (outcome,) = self._batch(conn, [job], today)
                except Exception as exc:
                    outcome = exc
                self._answer([job], [outcome])
            return
        self._answer(jobs, outcomes)

    def _batch(self, conn: Connection, jobs: list[_Job], today: dt.date) -> list[Outcome | BaseException]:
        """Receipts first, in one statement (on SQLite the transaction's first write takes the database's
        write lock before any rule reads a period), then each declaration, then the deliveries."""
        now = service.utc_now()
        conn.execute(
            insert(submission_table),
            [
                {
                    "ticket": job.ticket,
                    "channel": "rest",
                    "form": FORM,
                    "declarant_kbo": job.declarant,
                    "filename": None,
                    "received_at": now,
                    "result_code": 1,
                    "errors": [],
                    "declarations": 1,
                    "refused": 0,
                }
                for job in jobs
            ],
        )
        outcomes: list[Outcome | BaseException] = []
        outbox: list[dict[str, Any]] = []
        for job in jobs:
            try:
                out = dimona.process(
                    conn,
                    declaration=job.declaration,
                    ticket=job.ticket,
                    sequence=1,
                    declarant_kbo=job.declarant,
                    today=today,
                    outbox=outbox,
                )
            except DeclarationRefused as exc:  # raised before the declaration wrote anything
                conn.execute(delete(submission_table).where(submission_table.c.ticket == job.ticket))
                outcomes.append(exc)
                continue
            if out.result == "B":
                service.close_submission(conn, ticket=job.ticket, declarations=1, refused=1)
            outcomes.append(out)
        if outbox:
            conn.execute(insert(outbox_table), outbox)
        return outcomes

    def _answer(self, jobs: list[_Job], outcomes: list[Outcome | BaseException]) -> None:
        """Log every declaration (and every refusal) in one commit of the log; each request is answered once
        its entry is committed."""
        log_ = self.ctx.log
        pending: list[concurrent.futures.Future[int] | None] = []
        for job, out in zip(jobs, outcomes, strict=True):
            decl = job.declaration
            if isinstance(out, Outcome):
                pending.append(
                    log_.record_nowait(
                        ticket=job.ticket,
                        kind=decl.kind,
                        declarant=job.declarant,
                        employer=out.employer_kbo,
                        insz=out.insz,
                        result=out.result,
                        reason=service.first_blocking(out.anomalies),
                    )
                )
            elif isinstance(out, DeclarationRefused):
                employer = out.details.get("employer")
                pending.append(
                    log_.record_nowait(
                        ticket=service.new_ticket(),
                        kind=decl.kind,
                        declarant=job.declarant,
                        employer=str(employer) if employer else None,
                        insz=decl.insz,
                        result="B",
                        reason=out.code,
                    )
                )
            else:
                pending.append(None)
        for job, out, logged in zip(jobs, outcomes, pending, strict=True):
            if logged is None:
                _settle(job, out, None)
            else:  # answered by the log's thread once committed: this one goes on with the next batch
                logged.add_done_callback(partial(_settle, job, out))


def _settle(job: _Job, out: Outcome | BaseException, logged: concurrent.futures.Future[int] | None) -> None:
    """Answer one request: its outcome, or why the log could not keep it (then the declaration is stored
    but the declarant is told it failed, and may read it back)."""
    error = logged.exception() if logged is not None else None
    if error is not None:
        job.future.set_exception(error)
    elif isinstance(out, BaseException):
        job.future.set_exception(out)
    else:
        job.future.set_result(out)
