"""Writing, verifying and reading the hash-chained audit log.

The chain: entry ``n`` stores ``prev_hash`` (= ``entry_hash`` of entry ``n-1``, or 64 zeros for entry 1) and
``entry_hash = sha256(prev_hash_ascii + canonical_json(fields)).hexdigest()`` where ``fields`` is the dict of
every stored column except ``entry_hash`` (:data:`HASHED_FIELDS`, ``prev_hash`` included), with the values
exactly as stored, except ``occurred_at``, which is hashed as its ISO-8601 UTC text with microseconds,
``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``. ``destinations`` is hashed as the stored text (a canonical JSON array
of KBO numbers). The same :func:`entry_hash` is used to write and to verify, so the two cannot drift.

**Single writer.** Only one process may write a given audit database, and in it only one
:class:`AuditWriter`: the writer keeps the chain head in memory. The hub is that process. A second writer
is not silently merged: its batches fail, because every batch updates ``audit_head`` only where it still
holds the seq and hash the writer last wrote (and ``seq`` is the primary key). Readers (``verify``, the
citizen's view) may run at any time, from any process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import queue
import re
import threading
import time as _time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, String, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from kruispunt.audit.models import GENESIS_HASH, HEAD_ID, audit_entry, audit_head
from kruispunt.audit.schemas import AuditEntryView, AuditRecord, Consultation, InstitutionRef, Outcome
from kruispunt.core.canonical import canonical_json
from kruispunt.core.settings import get_settings

log = logging.getLogger("kruispunt.audit")

HASHED_FIELDS: tuple[str, ...] = (
    "seq",
    "ticket",
    "customer_ticket",
    "occurred_at",
    "channel",
    "message_type",
    "message_version",
    "requester_kbo",
    "requester_sector",
    "requester_type",
    "user_id",
    "destinations",
    "person_insz",
    "capacity_code",
    "deliberation_id",
    "legal_context",
    "outcome",
    "reason_code",
    "prev_hash",
)
"""Columns of ``audit_entry`` that :func:`entry_hash` covers: every column but ``entry_hash``."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


class AuditIntegrityError(RuntimeError):
    """The writer may not append: the head row is missing, or another writer moved it."""


class AuditWriteError(RuntimeError):
    """A batch could not be written; every caller of that batch gets this error.

    Why not the database exception itself: SQLAlchemy's message lists the statement's parameters, i.e. the
    INSZ and tickets of every other exchange in the batch, and callers log what they catch. The message here
    keeps only the error's type and first line; the original stays on :attr:`original` (not chained).
    """

    def __init__(self, message: str, original: BaseException) -> None:
        super().__init__(message)
        self.original = original


def _sanitised(exc: Exception, size: int) -> Exception:
    if isinstance(exc, AuditIntegrityError):
        return exc
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return AuditWriteError(f"audit batch of {size} entries not written: {type(exc).__name__}: {first}", exc)


# -- the hash ---------------------------------------------------------------------------------------------


def entry_hash(prev_hash: str, record_fields: Mapping[str, Any]) -> str:
    """``sha256(prev_hash as ASCII bytes + canonical_json(record_fields))`` as 64 lower-case hex digits.

    ``record_fields`` holds exactly :data:`HASHED_FIELDS`, ``occurred_at`` as :func:`iso_utc` text.
    """
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(record_fields)).hexdigest()


def iso_utc(value: datetime | str) -> str:
    """The hashed form of a time: ISO-8601 in UTC with microseconds (``2025-01-31T09:00:00.000000+00:00``).

    Accepts a datetime (naive = UTC, as SQLite returns it) or the text SQLite stores.
    """
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.isoformat(timespec="microseconds")


# -- turning a record into a row (runs in the caller's thread, so a bad record fails only its caller) --------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# (record attribute, column, required) of the text fields, in the order they are checked
_TEXT_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("customer_ticket", "customer_ticket", False),
    ("channel", "channel", True),
    ("message_type", "message_type", False),
    ("version", "message_version", False),
    ("requester", "requester_kbo", False),
    ("user", "user_id", False),
    ("person", "person_insz", False),
    ("deliberation", "deliberation_id", False),
    ("legal_context", "legal_context", False),
    ("outcome", "outcome", True),
    ("reason_code", "reason_code", False),
)
_INT_FIELDS: tuple[tuple[str, str], ...] = (
    ("requester_sector", "requester_sector"),
    ("requester_type", "requester_type"),
    ("capacity", "capacity_code"),
)


def is_ticket(text: str) -> bool:
    """Whether ``text`` is a hub ticket as stored: a canonical lower-case UUID."""
    return _UUID.fullmatch(text) is not None


def _text(name: str, value: object, *, required: bool) -> str | None:
    """Slow path of :func:`_prepare` for one text field: say precisely what is wrong, or normalise it."""
    if value is None:
        if required:
            raise ValueError(f"audit record: {name} is required")
        return None
    if not isinstance(value, str):
        raise TypeError(f"audit record: {name} must be a string, not {type(value).__name__}")
    text = str(value)  # a StrEnum member → its plain value
    if "\x00" in text:
        raise ValueError(f"audit record: {name} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"audit record: {name} is not valid Unicode text") from exc
    if required and not text:
        raise ValueError(f"audit record: {name} is empty")
    return text


def _int(name: str, value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"audit record: {name} must be an integer, not {type(value).__name__}")
    number = int(value)
    if not -(2**31) <= number < 2**31:
        raise ValueError(f"audit record: {name} is out of range")
    return number


def _prepare(record: AuditRecord) -> tuple[dict[str, Any], str]:
    """Check one record's types and build its row (without seq/prev_hash/entry_hash) and hashed time text.

    Why strict: the database must give back exactly what was hashed (SQLite would silently turn "17" into
    17), and one unstorable value (a NUL, a lone surrogate) must not fail a whole group commit. Why the
    odd shape: this runs once per exchange, so the common case is checked in bulk and only a suspicious
    record takes the field-by-field path.
    """
    moment = record.time
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError("audit record: time must be a timezone-aware datetime")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    ticket = record.ticket
    if type(ticket) is not str or not _UUID.fullmatch(ticket):
        raise ValueError(f"audit record: ticket must be a canonical lower-case UUID, not {ticket!r}")
    destinations = record.destinations
    if type(destinations) not in (tuple, list) or not all(type(d) is str for d in destinations):
        raise TypeError("audit record: destinations must be a tuple of KBO numbers (strings)")
    try:
        destinations_text = canonical_json(destinations).decode()
    except orjson.JSONEncodeError as exc:
        raise ValueError("audit record: destinations are not valid Unicode text") from exc
    texts: tuple[str | None, ...] = (
        record.customer_ticket,
        record.channel,
        record.message_type,
        record.version,
        record.requester,
        record.user,
        record.person,
        record.deliberation,
        record.legal_context,
        record.outcome,
        record.reason_code,
    )
    ints: tuple[int | None, ...] = (record.requester_sector, record.requester_type, record.capacity)
    joined = "".join([t for t in texts if type(t) is str])
    clean = (
        all(type(t) is str or t is None for t in texts)
        and bool(record.channel)
        and bool(record.outcome)
        and joined.isascii()
        and "\x00" not in joined
        and all(i is None or (type(i) is int and -(2**31) <= i < 2**31) for i in ints)
    )
    if not clean:
        texts = tuple(
            _text(attr, value, required=req)
            for (attr, _, req), value in zip(_TEXT_FIELDS, texts, strict=True)
        )
        ints = tuple(_int(attr, value) for (attr, _), value in zip(_INT_FIELDS, ints, strict=True))
    row = {
        "ticket": ticket,
        "customer_ticket": texts[0],
        "occurred_at": moment,
        "channel": texts[1],
        "message_type": texts[2],
        "message_version": texts[3],
        "requester_kbo": texts[4],
        "requester_sector": ints[0],
        "requester_type": ints[1],
        "user_id": texts[5],
        "destinations": destinations_text,
        "person_insz": texts[6],
        "capacity_code": ints[2],
        "deliberation_id": texts[7],
        "legal_context": texts[8],
        "outcome": texts[9],
        "reason_code": texts[10],
    }
    return row, moment.isoformat(timespec="microseconds")


# -- the writer ---------------------------------------------------------------------------------------------

# queue item: (row, hashed time text, event loop of an async caller or None, its future)
_Item = tuple[dict[str, Any], str, asyncio.AbstractEventLoop | None, Any]
_STOP: Any = object()

_INSERT = insert(audit_entry)
_HEAD_UPDATE = (
    update(audit_head)
    .where(
        audit_head.c.id == HEAD_ID,
        audit_head.c.last_seq == bindparam("old_seq"),
        audit_head.c.last_hash == bindparam("old_hash"),
    )
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"), updated_at=bindparam("now"))
)


def _settle(results: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    """Runs on a caller's event loop: resolve the futures of one committed (or failed) batch."""
    for future, result in results:
        if future.done():  # the caller was cancelled; its entry is logged all the same
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class AuditWriter:
    """The one writer of the audit log: a dedicated thread that owns the write connection and the chain.

    Callers ``await append(record)`` (or ``append_sync``); the thread drains a queue, chains the records in
    order, inserts them with one ``executemany`` and updates ``audit_head`` in one transaction (group commit:
    at most ``batch_max`` rows, or whatever arrived within ``flush_ms`` of the first one), and only then
    resolves the callers' futures with their ``seq``. A database error fails every caller of that batch
    with an :class:`AuditWriteError` (or :class:`AuditIntegrityError`); the writer then reconnects,
    reloads the head and carries on. Bad records are refused in the caller's own ``append`` call.

    Only one process may write a given audit database (see the module docstring).
    """

    def __init__(
        self, engine: Engine, *, flush_ms: float | None = None, batch_max: int | None = None
    ) -> None:
        flush = get_settings().audit_flush_ms if flush_ms is None else flush_ms
        size = get_settings().audit_batch_max if batch_max is None else batch_max
        if flush < 0 or size < 1:
            raise ValueError("flush_ms must be >= 0 and batch_max >= 1")
        self._engine = engine
        self._flush_s = flush / 1000.0
        self._batch_max = size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._seq = 0
        self._hash = GENESIS_HASH
        self._reload = True
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # public API ------------------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """Seq of the last committed entry (as known to this writer)."""
        return self._seq

    @property
    def last_hash(self) -> str:
        """Hash of the last committed entry (64 zeros for an empty log)."""
        return self._hash

    def start(self) -> None:
        """Open the write connection, read the chain head from the database and start the thread.

        Raises :class:`AuditIntegrityError` when the log cannot be continued (head row missing, or entries
        beyond the head), and any database error opening it.
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("audit writer already started")
            self._thread = threading.Thread(target=self._run, name="kruispunt-audit-writer", daemon=True)
            self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error
        self._running = True

    async def append(self, record: AuditRecord) -> int:
        """Log one exchange; returns its seq once it is committed. Bad records raise TypeError/ValueError."""
        row, moment = _prepare(record)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._put((row, moment, loop, future))
        return await future

    def append_sync(self, record: AuditRecord, timeout: float | None = None) -> int:
        """Blocking :meth:`append` for threads without an event loop."""
        row, moment = _prepare(record)
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._put((row, moment, None, future))
        return future.result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write everything already appended, then stop the thread (idempotent)."""
        with self._lock:
            thread = self._thread
            if thread is None or not self._running:
                return
            self._running = False
            self._queue.put(_STOP)
        thread.join(timeout)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> AuditWriter:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # internals -------------------------------------------------------------------------------------------

    def _put(self, item: _Item) -> None:
        with self._lock:
            if not self._running:
                raise RuntimeError("audit writer is not running")
            self._queue.put(item)

    def _run(self) -> None:
        try:
            self._open()
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        get, get_nowait, flush_s, batch_max = (
            self._queue.get,
            self._queue.get_nowait,
            self._flush_s,
            self._batch_max,
        )
        monotonic = _time.monotonic
        stopping = False
        try:
            while not stopping:
                item = get()
                if item is _STOP:
                    break
                batch = [item]
                deadline = monotonic() + flush_s
                while len(batch) < batch_max:
                    try:
                        item = get_nowait()
                    except queue.Empty:
                        remaining = deadline - monotonic()
                        if remaining <= 0:
                            break
                        try:
                            item = get(timeout=remaining)
                        except queue.Empty:
                            break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                self._write(batch)
        finally:
            self._shutdown()

    def _open(self) -> None:
        """(Re)connect and read the chain head: the head row is the truth, not ``max(seq)``."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # a broken connection may fail to close; it is discarded either way
                log.debug("closing the audit write connection failed", exc_info=True)
            self._conn = None
        conn = self._engine.connect()
        try:
            head = conn.execute(
                select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == HEAD_ID)
            ).first()
            if head is None:
                raise AuditIntegrityError(
                    "audit_head row missing: the audit database is not migrated or has been tampered with"
                )
            max_seq = conn.execute(select(func.max(audit_entry.c.seq))).scalar()
            if max_seq is not None and max_seq > head.last_seq:
                raise AuditIntegrityError(
                    f"audit_entry holds seq {max_seq} beyond audit_head (last seq {head.last_seq}): another "
                    "process wrote this log; run `kruispunt audit verify`"
                )
            conn.rollback()
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._seq, self._hash = int(head.last_seq), str(head.last_hash)
        self._reload = False

    def _write(self, batch: list[_Item]) -> None:
        """Commit one batch and answer its callers; a dropped connection is retried once, on a new one.

        The retry cannot duplicate entries: it re-reads the head first, and if the lost commit did happen
        the tickets are already there (unique) and the batch fails instead.
        """
        for attempt in (1, 2):
            try:
                first, last, chain = self._commit(batch)
            except Exception as exc:
                self._reload = True  # the commit may or may not have happened: ask the database next time
                if attempt == 1 and isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    log.warning("audit write connection lost; reconnecting")
                    continue
                error = _sanitised(exc, len(batch))
                log.error("%s", error)
                self._resolve(batch, error)
                return
            self._seq, self._hash = last, chain
            self._resolve(batch, first)
            return

    def _commit(self, batch: list[_Item]) -> tuple[int, int, str]:
        """Chain the batch after the head, insert it and move the head, in one transaction."""
        if self._reload or self._conn is None:
            self._open()
        conn = self._conn
        assert conn is not None
        first = seq = self._seq
        old_hash = chain = self._hash
        rows = []
        for row, moment, _loop, _future in batch:
            seq += 1
            row["seq"] = seq
            row["prev_hash"] = chain
            row.pop("entry_hash", None)  # left over from a failed attempt: never hash it
            fields = row.copy()
            fields["occurred_at"] = moment
            chain = entry_hash(chain, fields)
            row["entry_hash"] = chain
            rows.append(row)
        with conn.begin():
            conn.execute(_INSERT, rows)
            moved = conn.execute(
                _HEAD_UPDATE,
                {
                    "old_seq": first,
                    "old_hash": old_hash,
                    "new_seq": seq,
                    "new_hash": chain,
                    "now": datetime.now(UTC),
                },
            )
            if moved.rowcount != 1:
                raise AuditIntegrityError(
                    f"audit_head is no longer at seq {first}: another writer or a manual change moved it"
                )
        return first, seq, chain

    @staticmethod
    def _resolve(batch: list[_Item], outcome: int | BaseException) -> None:
        """Resolve each caller's future with its seq (``outcome`` = seq before the batch) or the error."""
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | BaseException]]] = {}
        failed = isinstance(outcome, BaseException)
        for index, (_row, _moment, loop, future) in enumerate(batch, start=1):
            result: int | BaseException = outcome if isinstance(outcome, BaseException) else outcome + index
            if loop is None:
                if not future.done():
                    if failed:
                        assert isinstance(result, BaseException)
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                continue
            per_loop.setdefault(loop, []).append((future, result))
        for loop, results in per_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, results)
            except RuntimeError:  # that caller's loop is closed: nobody is waiting any more
                log.warning("audit: event loop closed before %d appends were confirmed", len(results))

    def _shutdown(self) -> None:
        """Fail anything still queued (only possible after an unexpected error) and close the connection."""
        self._running = False
        leftovers: list[_Item] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                leftovers.append(item)
        if leftovers:
            self._resolve(leftovers, RuntimeError("audit writer stopped"))
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the audit write connection failed", exc_info=True)
            self._conn = None


# -- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Result of :func:`verify`.

    ``checked``: entries found intact before the first problem (all of them when ``ok``).
    ``first_bad_seq``: the smallest seq at which the log is missing an entry or holds a wrong one (None when
    ``ok``, or when the problem is not tied to a seq, e.g. the head row is missing). ``last_hash``: hash of
    the last verified entry — publish it elsewhere to anchor the chain.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
    last_hash: str | None = None


def _verify_columns(dialect: str) -> list[ColumnElement[Any]]:
    columns: list[ColumnElement[Any]] = []
    for name in (*HASHED_FIELDS, "entry_hash"):
        column = audit_entry.c[name]
        if name == "occurred_at" and dialect == "sqlite":
            # the stored text, so that a garbled value is reported, not raised by the type's parser
            columns.append(type_coerce(column, String()).label(name))
        else:
            columns.append(column)
    return columns


def _pages(conn: Connection, page_size: int) -> Iterator[Sequence[Any]]:
    """All entries in seq order, a page at a time (keyset pagination: constant memory, no long cursor)."""
    columns = _verify_columns(conn.dialect.name)
    seq_col = audit_entry.c.seq
    last: int | None = None
    while True:
        query = select(*columns).order_by(seq_col).limit(page_size)
        if last is not None:
            query = query.where(seq_col > last)
        rows = conn.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]
        if len(rows) < page_size:
            return


def _read_head(conn: Connection) -> tuple[int, str] | None:
    head = conn.execute(
        select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == HEAD_ID)
    ).first()
    return None if head is None else (head[0], head[1])


def verify(engine: Engine | Connection, *, page_size: int = 1000) -> VerifyReport:
    """Recompute the whole chain in seq order and compare it with the stored hashes and ``audit_head``.

    Detects an altered field, a deleted entry (gap), reordered/swapped entries, a truncated tail (the head
    names a later seq), entries written past the head, and a missing or garbled hash. Safe to run while the
    writer is appending. Database errors (cannot connect, tables missing) are raised, not reported.

    ``first_bad_seq`` is the altered entry, the first missing seq of a gap or truncated tail, the first of
    two swapped entries, or the first entry past the head. One case shows one entry late: an entry altered
    *and* given a recomputed ``entry_hash`` is self-consistent, so the break is reported at the next entry,
    whose ``prev_hash`` no longer links (nothing can tell which of the two was changed).
    """
    if isinstance(engine, Connection):
        return _verify(engine, page_size)
    with engine.connect() as conn:
        return _verify(conn, page_size)


def _verify(conn: Connection, page_size: int) -> VerifyReport:
    head = _read_head(conn)
    if head is None:
        return VerifyReport(False, 0, None, "audit_head row missing: a truncated tail cannot be ruled out")
    head_seq, head_hash = head
    if not isinstance(head_seq, int) or not isinstance(head_hash, str) or not _HEX64.fullmatch(head_hash):
        return VerifyReport(False, 0, None, f"audit_head garbled: {head_seq!r}, {head_hash!r}")

    def bad(seq: int | None, reason: str) -> VerifyReport:
        return VerifyReport(False, checked, seq, reason)

    checked = 0
    expected = 1
    chain = GENESIS_HASH
    ticket: Any = None
    for rows in _pages(conn, page_size):
        for row in rows:
            seq, ticket = row[0], row[1]
            where = f"entry {seq} (ticket {ticket})"
            if seq != expected:
                if isinstance(seq, int) and seq > expected:
                    gap = f"entry {expected}" if seq == expected + 1 else f"entries {expected}..{seq - 1}"
                    return bad(expected, f"{gap} missing: the next entry is {where}")
                return bad(expected, f"{where}: seq out of order or garbled; expected {expected}")
            stored = row[-1]
            if not isinstance(stored, str) or not _HEX64.fullmatch(stored):
                return bad(seq, f"{where}: entry_hash is missing or not 64 lower-case hex digits")
            if row[-2] != chain:
                link = "the genesis hash" if seq == 1 else f"the entry_hash of entry {seq - 1}"
                return bad(
                    seq, f"{where}: prev_hash does not match {link} (entries removed, reordered or relinked)"
                )
            fields = dict(zip(HASHED_FIELDS, row[:-1], strict=True))
            try:
                fields["occurred_at"] = iso_utc(fields["occurred_at"])
                recomputed = entry_hash(chain, fields)
            except (ValueError, TypeError, AttributeError) as exc:
                return bad(seq, f"{where}: a field is garbled ({type(exc).__name__}: {exc})")
            if recomputed != stored:
                return bad(seq, f"{where}: contents do not match entry_hash (a field was altered)")
            chain = stored
            if seq == head_seq and chain != head_hash:
                return bad(seq, f"{where}: entry_hash differs from audit_head.last_hash")
            checked += 1
            expected += 1
    last = expected - 1
    if last < head_seq:
        gap = f"entry {head_seq}" if head_seq == last + 1 else f"entries {last + 1}..{head_seq}"
        after = f"after entry {last} (ticket {ticket})" if last else "(the log is empty)"
        return bad(
            last + 1,
            f"{gap} missing {after}: audit_head says the log ends at seq {head_seq} (tail truncated)",
        )
    if last > head_seq:
        # the writer may have committed while we read: only entries past the *current* head are foreign
        now = _read_head(conn)
        now_seq = now[0] if now is not None else head_seq
        if last > now_seq:
            return bad(
                now_seq + 1, f"entries {now_seq + 1}..{last} lie beyond audit_head (last seq {now_seq})"
            )
        if now is not None and now_seq == last and now[1] != chain:
            return bad(last, f"entry {last} (ticket {ticket}): entry_hash differs from audit_head.last_hash")
    return VerifyReport(True, checked, None, None, chain)


# -- reading ------------------------------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _as_utc(value: datetime) -> datetime:
    """A time read back from the database (naive on SQLite = UTC) as an aware UTC datetime."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def consultations(
    conn: Connection,
    *,
    insz: str,
    since: datetime,
    until: datetime | None = None,
    institution_name: Callable[[str], str | None] | None = None,
) -> list[Consultation]:
    """Who consulted this person's data in ``[since, until)``, newest first.

    Only exchanges in which the person's data was actually asked of a source count: entries about ``insz``
    with at least one destination and an outcome other than REFUSED (a refused request never left the hub).
    ``institution_name`` maps a KBO number to a name for display.
    """
    entry = audit_entry.c
    query = select(
        entry.ticket,
        entry.occurred_at,
        entry.message_type,
        entry.message_version,
        entry.requester_kbo,
        entry.requester_sector,
        entry.requester_type,
        entry.user_id,
        entry.destinations,
        entry.capacity_code,
        entry.deliberation_id,
        entry.legal_context,
        entry.outcome,
    ).where(
        entry.person_insz == insz,
        entry.occurred_at >= _utc(since, "since"),
        entry.outcome != Outcome.REFUSED.value,
        entry.destinations != "[]",
    )
    if until is not None:
        query = query.where(entry.occurred_at < _utc(until, "until"))
    query = query.order_by(entry.occurred_at.desc(), entry.seq.desc())
    name = institution_name or (lambda _kbo: None)
    result = []
    for row in conn.execute(query):
        requester = (
            InstitutionRef(
                kbo=row.requester_kbo,
                name=name(row.requester_kbo),
                sector=row.requester_sector,
                institution_type=row.requester_type,
            )
            if row.requester_kbo is not None
            else None
        )
        result.append(
            Consultation(
                ticket=row.ticket,
                time=_as_utc(row.occurred_at),
                message_type=row.message_type,
                version=row.message_version,
                requester=requester,
                user=row.user_id,
                destinations=[
                    InstitutionRef(kbo=kbo, name=name(kbo)) for kbo in orjson.loads(row.destinations)
                ],
                capacity=row.capacity_code,
                deliberation=row.deliberation_id,
                legal_context=row.legal_context,
                outcome=row.outcome,
            )
        )
    return result


def entry_by_ticket(conn: Connection, ticket: str) -> AuditEntryView | None:
    """The stored entry with this hub ticket, or None."""
    row = conn.execute(select(audit_entry).where(audit_entry.c.ticket == ticket)).first()
    if row is None:
        return None
    return AuditEntryView(
        seq=row.seq,
        ticket=row.ticket,
        customer_ticket=row.customer_ticket,
        time=_as_utc(row.occurred_at),
        channel=row.channel,
        message_type=row.message_type,
        version=row.message_version,
        requester=row.requester_kbo,
        requester_sector=row.requester_sector,
        requester_type=row.requester_type,
        user=row.user_id,
        destinations=orjson.loads(row.destinations),
        person=row.person_insz,
        capacity=row.capacity_code,
        deliberation=row.deliberation_id,
        legal_context=row.legal_context,
        outcome=row.outcome,
        reason_code=row.reason_code,
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )
