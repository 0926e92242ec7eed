"""Writing, verifying and reading the hash-chained audit log.

The log is a set of independent **chains** (``chain`` 0..999), one per writer process. In each chain, entry
``n`` stores ``prev_hash`` (= ``entry_hash`` of entry ``n-1`` of the same chain, or 64 zeros for entry 1)
and ``entry_hash = sha256(prev_hash_ascii + canonical_json(fields)).hexdigest()`` where ``fields`` is the
dict of every stored column except ``entry_hash`` (:data:`HASHED_FIELDS`: ``chain``, ``seq`` and
``prev_hash`` included, so an entry can be neither renumbered nor moved to another chain unnoticed), with
the values exactly as stored, except ``occurred_at``, which is hashed as its ISO-8601 UTC text with
microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``. ``destinations`` is hashed as the stored text (a
canonical JSON array of KBO numbers). The same :func:`entry_hash` is used to write and to verify, so the two
cannot drift.

**One writer per chain.** Each hub worker process runs one :class:`AuditWriter` on its own chain; the
writer keeps its chain's head in memory. Writers of different chains share the database (on SQLite, its
single write lock and busy timeout serialise their commits; on PostgreSQL they touch different rows). A
second writer on the *same* chain is not silently merged: its batches fail, because every batch moves its
chain's ``audit_head`` row only where it still holds the seq and hash the writer last wrote (or creates it
only where it does not exist yet), and (``chain``, ``seq``) is the primary key. Readers (``verify``, the
citizen's view) may run at any time, from any process.

**What cannot be detected from inside.** Removing a whole chain — all its entries *and* its head row — or
the whole database leaves nothing behind to compare with. Anchor the log outside it: publish the ``heads``
of ``kruispunt audit verify --json`` elsewhere. Entries removed from a chain whose head row stays are
detected (a gap, or a tail shorter than the head says).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import operator
import queue
import re
import threading
import time as _time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, String, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from kruispunt.audit.models import GENESIS_HASH, MAX_CHAIN, audit_entry, audit_evidence, audit_head
from kruispunt.audit.schemas import AuditEntryView, AuditRecord, Consultation, InstitutionRef, Outcome
from kruispunt.core.canonical import canonical_json
from kruispunt.core.settings import get_settings

log = logging.getLogger("kruispunt.audit")

HASHED_FIELDS: tuple[str, ...] = (
    "chain",
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
    """The writer may not append: its chain's head row is missing, or another writer moved or created it."""


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


def _check_chain(chain: object) -> int:
    if not isinstance(chain, int) or isinstance(chain, bool) or not 0 <= chain <= MAX_CHAIN:
        raise ValueError(f"chain must be an integer from 0 to {MAX_CHAIN}, not {chain!r}")
    return int(chain)


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


# -- turning a record into its hashed fields (runs in the caller's thread: a bad record fails only its caller)

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
_STR_TYPE = frozenset((str,))
_STR_OR_NONE = frozenset((str, type(None)))
_INT_OR_NONE = frozenset((int, type(None)))
_INT32 = range(-(2**31), 2**31)


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
    if number not in _INT32:
        raise ValueError(f"audit record: {name} is out of range")
    return number


def _storable(text: str) -> bool:
    """No NUL and valid Unicode (no lone surrogate): what every stored text must be."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prepare(record: AuditRecord) -> tuple[dict[str, Any], datetime]:
    """Check one record's types; build its hashed fields (all but chain/seq/prev_hash) and its UTC time.

    Why strict: the database must give back exactly what was hashed (SQLite would silently turn "17" into
    17), and one unstorable value (a NUL, a lone surrogate) must not fail a whole group commit. Why the
    odd shape: this runs once per exchange, so the common case is checked in bulk (type sets, one joined
    string) and only a suspicious record takes the field-by-field path, which names the bad field.
    """
    moment = record.time
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError("audit record: time must be a timezone-aware datetime")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if type(moment) is not datetime:  # a subclass (its own isoformat?): hash and store a plain datetime
        moment = datetime(*moment.timetuple()[:6], moment.microsecond, tzinfo=UTC)
    ticket = record.ticket
    if type(ticket) is not str or not _UUID.fullmatch(ticket):
        raise ValueError(f"audit record: ticket must be a canonical lower-case UUID, not {ticket!r}")
    destinations = record.destinations
    if type(destinations) not in (tuple, list) or not set(map(type, destinations)) <= _STR_TYPE:
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
    sector, kind, capacity = ints
    clean = (
        set(map(type, texts)) <= _STR_OR_NONE
        and bool(record.channel)
        and bool(record.outcome)
        and _storable("".join(filter(None, texts)))
        and set(map(type, ints)) <= _INT_OR_NONE
        and (sector is None or sector in _INT32)
        and (kind is None or kind in _INT32)
        and (capacity is None or capacity in _INT32)
    )
    if not clean:
        texts = tuple(
            _text(attr, value, required=req)
            for (attr, _, req), value in zip(_TEXT_FIELDS, texts, strict=True)
        )
        ints = tuple(_int(attr, value) for (attr, _), value in zip(_INT_FIELDS, ints, strict=True))
    fields = {
        "ticket": ticket,
        "customer_ticket": texts[0],
        "occurred_at": moment.isoformat(timespec="microseconds"),
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
    return fields, moment


# -- the writer ---------------------------------------------------------------------------------------------

# queue item: (hashed fields, UTC time, event loop of an async caller or None, its future)
_Item = tuple[dict[str, Any], datetime, asyncio.AbstractEventLoop | None, Any]
_STOP: Any = object()
_EVIDENCE: Any = object()
"""Marks a queued item as an evidence row (see :meth:`AuditWriter.add_evidence`), not an entry."""


@dataclass(frozen=True, slots=True)
class _Member:
    """An entry of :meth:`AuditWriter.append_many_nowait`: its group's future, settled by the last one."""

    group: concurrent.futures.Future[int]
    last: bool


# An entry's INSERT parameters, in this column order: the hashed fields but occurred_at (taken from the
# hashed dict in one call), then occurred_at in its stored form and entry_hash.
_ROW_FIELDS = tuple(name for name in HASHED_FIELDS if name != "occurred_at")
_INSERT_COLUMNS = (*_ROW_FIELDS, "occurred_at", "entry_hash")
_row_values = operator.itemgetter(*_ROW_FIELDS)
# the head's UPDATE parameters, in this order
_MOVE_COLUMNS = ("last_seq", "last_hash", "updated_at")
_MOVE_WHERE = ("chain", "last_seq", "last_hash")

_HEAD_UPDATE = (
    update(audit_head)
    .where(
        audit_head.c.chain == bindparam("head_chain"),
        audit_head.c.last_seq == bindparam("old_seq"),
        audit_head.c.last_hash == bindparam("old_hash"),
    )
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"), updated_at=bindparam("now"))
)
_HEAD_INSERT = insert(audit_head)

StoredTime = Callable[[datetime, str], Any]
"""A UTC time (and its :func:`iso_utc` text) → the value the driver is given for a DateTime column."""


@dataclass(frozen=True, slots=True)
class _DriverSQL:
    """The writer's per-batch statements as driver SQL (one tuple of parameters per row) for one dialect."""

    insert_entries: str
    move_head: str
    stored_time: StoredTime


def _driver_sql(dialect: Dialect) -> _DriverSQL | None:
    """The driver-level INSERT of a batch and UPDATE of the head on this dialect, or None.

    Why not the SQLAlchemy statements: per batch they compile-cache, build parameter dicts and run every
    column's bind processing for every row — most of the writer's CPU, and the writer shares the hub's GIL.
    These take plain tuples. The only columns with bind processing on SQLite and PostgreSQL are the two
    DateTime ones; they get what that processing produces (checked here against the dialect's own
    processor: the stored values are identical). None — an unknown paramstyle, another column with bind
    processing, or a time processor that does not match — means: use the SQLAlchemy statements.
    """
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    processors = {
        (table.name, c.name): c.type.dialect_impl(dialect).bind_processor(dialect)
        for table in (audit_entry, audit_head)
        for c in table.columns
    }
    times = {
        _stored_time(processors.pop(key))
        for key in (("audit_entry", "occurred_at"), ("audit_head", "updated_at"))
    }
    if marker is None or any(processors.values()) or len(times) != 1 or None in times:
        return None
    stored_time = times.pop()
    assert stored_time is not None
    quote = dialect.identifier_preparer.quote
    entry, head = quote(audit_entry.name), quote(audit_head.name)
    columns = ", ".join(quote(c) for c in _INSERT_COLUMNS)
    values = ", ".join([marker] * len(_INSERT_COLUMNS))
    moves = ", ".join(f"{quote(c)} = {marker}" for c in _MOVE_COLUMNS)
    where = " AND ".join(f"{quote(c)} = {marker}" for c in _MOVE_WHERE)
    # only constant identifiers (quoted by the dialect) and placeholders: every value is a parameter
    insert_entries = f"INSERT INTO {entry} ({columns}) VALUES ({values})"  # noqa: S608
    move_head = f"UPDATE {head} SET {moves} WHERE {where}"  # noqa: S608
    return _DriverSQL(insert_entries, move_head, stored_time)


def _sqlite_time(_moment: datetime, iso: str) -> str:
    """SQLite's stored text of a UTC time, ``YYYY-MM-DD HH:MM:SS.ffffff``, cut from its ISO text."""
    return f"{iso[:10]} {iso[11:26]}"


def _as_given(moment: datetime, _iso: str) -> datetime:
    return moment


_TIME_PROBES = (
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
)


def _stored_time(processor: Callable[[Any], Any] | None) -> StoredTime | None:
    """How the writer produces a stored time: the datetime itself, SQLite's text cut from the ISO text
    (when it is what ``processor`` produces), or None (use the SQLAlchemy statements)."""
    if processor is None:
        return _as_given
    for probe in _TIME_PROBES:
        if processor(probe) != _sqlite_time(probe, probe.isoformat(timespec="microseconds")):
            return None
    return _sqlite_time


def _settle(results: list[tuple[asyncio.Future[int], int]]) -> None:
    """Runs on a caller's event loop: resolve the futures of one committed batch with their seqs."""
    for future, seq in results:
        if not future.done():  # done: the caller was cancelled; its entry is logged all the same
            future.set_result(seq)


def _settle_error(futures: list[asyncio.Future[int]], error: BaseException) -> None:
    """Runs on a caller's event loop: fail the futures of one batch that was not written."""
    for future in futures:
        if not future.done():
            future.set_exception(error)


class AuditWriter:
    """The writer of one chain of the log: a dedicated thread that owns the write connection and the head.

    Callers ``await append(record)`` (or ``append_sync``); the thread drains a queue, chains the records in
    order, and in one transaction moves the chain's ``audit_head`` row and inserts them with one
    ``executemany`` (group commit: at most ``batch_max`` rows, or whatever arrived within ``flush_ms`` of
    the first one), and only then resolves the callers' futures with their ``seq``. A database error fails
    every caller of that batch with an :class:`AuditWriteError` (or :class:`AuditIntegrityError`); the
    writer then reconnects, reloads the head and carries on. Bad records are refused in the caller's own
    ``append`` call.

    A chain without a head row (never written) gets one from its first batch, in the same transaction and
    only if it still has none: of two writers starting the same new chain, the second to commit fails
    with :class:`AuditIntegrityError` and writes nothing. Each process writes its own ``chain`` (0..999);
    see the module docstring.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        chain: int = 0,
        flush_ms: float | None = None,
        batch_max: int | None = None,
    ) -> None:
        number = _check_chain(chain)
        flush = get_settings().audit_flush_ms if flush_ms is None else flush_ms
        size = get_settings().audit_batch_max if batch_max is None else batch_max
        if flush < 0 or size < 1:
            raise ValueError("flush_ms must be >= 0 and batch_max >= 1")
        self._engine = engine
        self._chain = number
        self._flush_s = flush / 1000.0
        self._batch_max = size
        self._sql = _driver_sql(engine.dialect)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._seq = 0
        self._hash = GENESIS_HASH
        self._head_exists = False
        self._reload = True
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # public API ------------------------------------------------------------------------------------------

    @property
    def chain(self) -> int:
        """The chain this writer appends to."""
        return self._chain

    @property
    def last_seq(self) -> int:
        """Seq of the chain's last committed entry (as known to this writer; 0 for a new chain)."""
        return self._seq

    @property
    def last_hash(self) -> str:
        """Hash of the chain's last committed entry (64 zeros for a new chain)."""
        return self._hash

    def start(self) -> None:
        """Open the write connection, read the chain's head from the database and start the thread.

        Raises :class:`AuditIntegrityError` when the chain cannot be continued (its head row is missing
        while it holds entries, or it holds entries beyond the head), and any database error opening it.
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("audit writer already started")
            self._thread = threading.Thread(
                target=self._run, name=f"kruispunt-audit-writer-{self._chain}", daemon=True
            )
            self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error
        self._running = True

    async def append(self, record: AuditRecord) -> int:
        """Log one exchange; returns its seq once it is committed. Bad records raise TypeError/ValueError."""
        fields, moment = _prepare(record)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._put((fields, moment, loop, future))
        return await future

    def append_sync(self, record: AuditRecord, timeout: float | None = None) -> int:
        """Blocking :meth:`append` for threads without an event loop."""
        return self.append_nowait(record).result(timeout)

    def append_many_nowait(self, records: Sequence[AuditRecord]) -> concurrent.futures.Future[int]:
        """Queue many exchanges at once (in order); the one future holds the last one's seq once every one
        of them is committed, or the first error. Cheaper than a future each when a caller logs thousands."""
        group: concurrent.futures.Future[int] = concurrent.futures.Future()
        if not records:
            group.set_result(0)
            return group
        items: list[_Item] = []
        last = len(records) - 1
        for i, record in enumerate(records):
            fields, moment = _prepare(record)
            items.append((fields, moment, None, _Member(group, i == last)))
        with self._lock:
            if not self._running:
                raise RuntimeError("audit writer is not running")
            for item in items:
                self._queue.put(item)
        return group

    def append_nowait(self, record: AuditRecord) -> concurrent.futures.Future[int]:
        """Queue one exchange and return at once: the future holds its seq once it is committed. A thread
        that logs many records queues them all, then waits, so that they share one commit."""
        fields, moment = _prepare(record)
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._put((fields, moment, None, future))
        return future

    def add_evidence(self, row: Mapping[str, Any]) -> None:
        """Queue one exchange's evidence (an ``audit_evidence`` row); stored with the next batch, without
        making anyone wait."""
        self._put((dict(row), datetime.now(UTC), None, _EVIDENCE))

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
                evidence = [item[0] for item in batch if item[3] is _EVIDENCE]
                if evidence:
                    batch = [item for item in batch if item[3] is not _EVIDENCE]
                if batch:
                    self._write(batch)
                if evidence:
                    self._write_evidence(evidence)
        finally:
            self._shutdown()

    def _open(self) -> None:
        """(Re)connect and read the chain's head: the head row is the truth, not ``max(seq)``.

        ``max(seq)`` is read first, the head second: a batch committed in between (by a second writer of
        the chain) then shows as a head at or past ``max(seq)``, never as entries beyond the head.
        """
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # a broken connection may fail to close; it is discarded either way
                log.debug("closing the audit write connection failed", exc_info=True)
            self._conn = None
        chain = self._chain
        conn = self._engine.connect()
        try:
            max_seq = conn.execute(
                select(func.max(audit_entry.c.seq)).where(audit_entry.c.chain == chain)
            ).scalar()
            head = conn.execute(
                select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.chain == chain)
            ).first()
            if head is None and max_seq is not None:
                raise AuditIntegrityError(
                    f"audit_head row of chain {chain} missing, but audit_entry holds entries of that chain "
                    f"(up to seq {max_seq}): the log has been tampered with; run `kruispunt audit verify`"
                )
            if head is not None and max_seq is not None and max_seq > head.last_seq:
                raise AuditIntegrityError(
                    f"audit_entry holds seq {max_seq} of chain {chain} beyond its audit_head (last seq "
                    f"{head.last_seq}): another process wrote this chain; run `kruispunt audit verify`"
                )
            conn.rollback()
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        if head is None:  # a new chain: its first batch creates the head row
            self._seq, self._hash, self._head_exists = 0, GENESIS_HASH, False
        else:
            self._seq, self._hash, self._head_exists = int(head.last_seq), str(head.last_hash), True
        self._reload = False

    def _write(self, batch: list[_Item]) -> None:
        """Commit one batch and answer its callers; a dropped connection is retried once, on a new one.

        The retry cannot duplicate entries: it re-reads the head first, and if the lost commit did happen
        the tickets are already there (unique) and the batch fails instead.
        """
        for attempt in (1, 2):
            try:
                first, last, last_hash = self._commit(batch)
            except Exception as exc:
                self._reload = True  # the commit may or may not have happened: ask the database next time
                if attempt == 1 and isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    log.warning("audit write connection lost; reconnecting")
                    continue
                error = _sanitised(exc, len(batch))
                log.error("%s", error)
                self._resolve(batch, error)
                return
            self._seq, self._hash, self._head_exists = last, last_hash, True
            self._resolve(batch, first)
            return

    def _write_evidence(self, rows: list[dict[str, Any]]) -> None:
        """Store the evidence rows that arrived with a batch, in a transaction of their own: a failure here
        is logged and never touches the entries."""
        try:
            if self._reload or self._conn is None:
                self._open()
            conn = self._conn
            assert conn is not None
            with conn.begin():
                conn.execute(insert(audit_evidence), rows)
        except Exception:
            self._reload = True
            log.exception("the evidence of %d exchanges could not be stored", len(rows))

    def _commit(self, batch: list[_Item]) -> tuple[int, int, str]:
        """Chain the batch after the head; move (or create) the head and insert it, in one transaction.

        The head goes first: a writer that lost its chain to another one fails on it, before inserting.
        """
        if self._reload or self._conn is None:
            self._open()
        conn = self._conn
        assert conn is not None
        chain = self._chain
        first = seq = self._seq
        old_hash = last_hash = self._hash
        sql = self._sql
        stored_time = _as_given if sql is None else sql.stored_time
        rows: list[tuple[Any, ...]] = []
        add = rows.append
        for fields, moment, _loop, _future in batch:
            seq += 1
            fields["chain"] = chain
            fields["seq"] = seq
            fields["prev_hash"] = last_hash
            last_hash = entry_hash(last_hash, fields)
            add((*_row_values(fields), stored_time(moment, fields["occurred_at"]), last_hash))
        now = datetime.now(UTC)
        with conn.begin():
            if not self._head_exists:
                try:
                    conn.execute(
                        _HEAD_INSERT,
                        {"chain": chain, "last_seq": seq, "last_hash": last_hash, "updated_at": now},
                    )
                except IntegrityError:
                    raise AuditIntegrityError(
                        f"audit_head of chain {chain} was created by another writer since this one started: "
                        "two writers on one chain"
                    ) from None
            else:
                if sql is None:
                    moved = conn.execute(
                        _HEAD_UPDATE,
                        {
                            "head_chain": chain,
                            "old_seq": first,
                            "old_hash": old_hash,
                            "new_seq": seq,
                            "new_hash": last_hash,
                            "now": now,
                        },
                    )
                else:
                    stored_now = stored_time(now, now.isoformat(timespec="microseconds"))
                    moved = conn.exec_driver_sql(
                        sql.move_head, (seq, last_hash, stored_now, chain, first, old_hash)
                    )
                if moved.rowcount != 1:
                    raise AuditIntegrityError(
                        f"audit_head of chain {chain} is no longer at seq {first}: another writer or a "
                        "manual change moved it"
                    )
            if sql is None:
                conn.execute(
                    insert(audit_entry), [dict(zip(_INSERT_COLUMNS, row, strict=True)) for row in rows]
                )
            else:
                conn.exec_driver_sql(sql.insert_entries, rows)
        return first, seq, last_hash

    @staticmethod
    def _resolve(batch: list[_Item], outcome: int | BaseException) -> None:
        """Resolve each caller's future with its seq (``outcome`` = seq before the batch) or the error."""
        if isinstance(outcome, BaseException):
            failed: dict[asyncio.AbstractEventLoop, list[asyncio.Future[int]]] = {}
            for _fields, _moment, loop, future in batch:
                if loop is None:
                    target = future.group if isinstance(future, _Member) else future
                    if not target.done():
                        target.set_exception(outcome)
                else:
                    failed.setdefault(loop, []).append(future)
            for loop, futures in failed.items():
                AuditWriter._call_in(loop, _settle_error, futures, outcome)
            return
        per_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int]]] = {}
        seq = outcome
        for _fields, _moment, loop, future in batch:
            seq += 1
            if isinstance(future, _Member):
                if future.last and not future.group.done():
                    future.group.set_result(seq)
            elif loop is None:
                if not future.done():
                    future.set_result(seq)
            else:
                per_loop.setdefault(loop, []).append((future, seq))
        for loop, results in per_loop.items():
            AuditWriter._call_in(loop, _settle, results)

    @staticmethod
    def _call_in(loop: asyncio.AbstractEventLoop, settle: Callable[..., None], *args: Any) -> None:
        try:
            loop.call_soon_threadsafe(settle, *args)
        except RuntimeError:  # that caller's loop is closed: nobody is waiting any more
            log.warning("audit: event loop closed before %d appends were confirmed", len(args[0]))

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

    ``checked``: entries found intact before the first problem (all of them when ``ok``), over all chains.
    ``first_bad_chain`` and ``first_bad_seq``: where the first problem is — chains are checked in ascending
    order, each from seq 1; ``first_bad_seq`` is the smallest seq of that chain at which it is missing an
    entry or holds a wrong one (None when ``ok``, or when the problem is not tied to a seq, e.g. the
    chain's head row is missing). ``chains``: how many chains were found (in ``audit_entry`` or
    ``audit_head``). ``heads``: the hash of the last verified entry of every chain (only when ``ok``) —
    publish them elsewhere to anchor the log. ``last_hash``: ``heads[0]`` (64 zeros when chain 0 is empty
    or absent), None when not ``ok``.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
    last_hash: str | None = None
    chains: int = 0
    first_bad_chain: int | None = None
    heads: dict[int, str] = field(default_factory=dict)


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


def _chains(conn: Connection) -> list[Any]:
    """Every chain number found in ``audit_head`` or ``audit_entry``, ascending.

    The entries' chains are found by skipping through the primary key index (one ``min(chain) > c`` seek
    per chain), not by reading every entry.
    """
    found = set(conn.execute(select(audit_head.c.chain)).scalars())
    column = audit_entry.c.chain
    last: Any = None
    while True:
        query = select(func.min(column))
        if last is not None:
            query = query.where(column > last)
        chain = conn.execute(query).scalar()
        if chain is None:
            break
        found.add(chain)
        last = chain
    # SQLite may hold a non-number in the column (reported as garbled): numbers first, then by text
    return sorted(found, key=lambda c: (0, c, "") if type(c) is int else (1, 0, repr(c)))


def _pages(conn: Connection, chain: int, page_size: int) -> Iterator[Sequence[Any]]:
    """The chain's entries in seq order, a page at a time (keyset pagination: constant memory)."""
    columns = _verify_columns(conn.dialect.name)
    seq_col = audit_entry.c.seq
    last: int | None = None
    while True:
        query = select(*columns).where(audit_entry.c.chain == chain).order_by(seq_col).limit(page_size)
        if last is not None:
            query = query.where(seq_col > last)
        rows = conn.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1][1]
        if len(rows) < page_size:
            return


def _read_head(conn: Connection, chain: int) -> tuple[Any, Any] | None:
    head = conn.execute(
        select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.chain == chain)
    ).first()
    return None if head is None else (head[0], head[1])


def verify(engine: Engine | Connection, *, page_size: int = 1000) -> VerifyReport:
    """Recompute every chain in (chain, seq) order and compare it with the stored hashes and ``audit_head``.

    Detects, per chain: an altered field (the chain number included: an entry moved to another chain), a
    deleted entry (gap), reordered/swapped entries, a truncated tail (the head names a later seq), entries
    written past the head, entries of a chain whose head row is missing, and a missing or garbled hash.
    Cannot detect a whole chain removed with its head row, or the whole database (see the module
    docstring). Reads a page at a time; safe to run while writers append (chains started after it began
    are not checked). Database errors (cannot connect, tables missing) are raised, not reported.

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
    # chains first, heads second: a chain's first batch commits its entries and head row together, so a
    # chain found now has its head row when it is read below (unless someone removed it)
    chains = _chains(conn)
    checked = 0
    heads: dict[int, str] = {}
    for chain in chains:
        if type(chain) is not int or not 0 <= chain <= MAX_CHAIN:
            return VerifyReport(
                False,
                checked,
                None,
                f"audit_entry or audit_head holds a garbled chain number {chain!r} (not 0..{MAX_CHAIN})",
                chains=len(chains),
            )
        count, problem, last_hash = _verify_chain(conn, chain, page_size)
        checked += count
        if problem is not None:
            seq, reason = problem
            return VerifyReport(False, checked, seq, reason, chains=len(chains), first_bad_chain=chain)
        heads[chain] = last_hash
    return VerifyReport(
        True, checked, None, None, heads.get(0, GENESIS_HASH), chains=len(chains), heads=heads
    )


def _verify_chain(
    conn: Connection, chain: int, page_size: int
) -> tuple[int, tuple[int | None, str] | None, str]:
    """Check one chain: (entries found intact, (first bad seq, reason) or None, hash of its last entry)."""
    head = _read_head(conn, chain)
    if head is None:
        return 0, (None, f"audit_head row of chain {chain} missing: a truncated tail cannot be ruled out"), ""
    head_seq, head_hash = head
    if (
        not isinstance(head_seq, int)
        or head_seq < 0
        or not isinstance(head_hash, str)
        or not _HEX64.fullmatch(head_hash)
    ):
        return 0, (None, f"audit_head of chain {chain} garbled: {head_seq!r}, {head_hash!r}"), ""

    checked = 0
    expected = 1
    prev = GENESIS_HASH
    ticket: Any = None

    def bad(seq: int | None, reason: str) -> tuple[int, tuple[int | None, str], str]:
        return checked, (seq, reason), ""

    for rows in _pages(conn, chain, page_size):
        for row in rows:
            seq, ticket = row[1], row[2]
            where = f"entry {seq} of chain {chain} (ticket {ticket})"
            if seq != expected:
                if isinstance(seq, int) and seq > expected:
                    gap = f"entry {expected}" if seq == expected + 1 else f"entries {expected}..{seq - 1}"
                    return bad(
                        expected,
                        f"{gap} of chain {chain} missing: the next entry is entry {seq} (ticket {ticket})",
                    )
                return bad(expected, f"{where}: seq out of order or garbled; expected {expected}")
            stored = row[-1]
            if not isinstance(stored, str) or not _HEX64.fullmatch(stored):
                return bad(seq, f"{where}: entry_hash is missing or not 64 lower-case hex digits")
            if row[-2] != prev:
                link = "the genesis hash" if seq == 1 else f"the entry_hash of entry {seq - 1}"
                return bad(
                    seq, f"{where}: prev_hash does not match {link} (entries removed, reordered or relinked)"
                )
            fields = dict(zip(HASHED_FIELDS, row[:-1], strict=True))
            try:
                fields["occurred_at"] = iso_utc(fields["occurred_at"])
                recomputed = entry_hash(prev, fields)
            except (ValueError, TypeError, AttributeError) as exc:
                return bad(seq, f"{where}: a field is garbled ({type(exc).__name__}: {exc})")
            if recomputed != stored:
                return bad(seq, f"{where}: contents do not match entry_hash (a field was altered)")
            prev = stored
            if seq == head_seq and prev != head_hash:
                return bad(seq, f"{where}: entry_hash differs from audit_head.last_hash of chain {chain}")
            checked += 1
            expected += 1
    last = expected - 1
    if last < head_seq:
        gap = f"entry {head_seq}" if head_seq == last + 1 else f"entries {last + 1}..{head_seq}"
        after = f"after entry {last} (ticket {ticket})" if last else "(the chain is empty)"
        return bad(
            last + 1,
            f"{gap} of chain {chain} missing {after}: audit_head says chain {chain} ends at seq {head_seq} "
            "(tail truncated)",
        )
    if last == 0 and head_hash != GENESIS_HASH:
        return bad(
            None, f"audit_head of chain {chain} says it is empty but its last_hash is not the genesis hash"
        )
    if last > head_seq:
        # the writer may have committed while we read: only entries past the *current* head are foreign
        now = _read_head(conn, chain)
        now_seq = now[0] if now is not None else head_seq
        if last > now_seq:
            extra = (
                f"entry {last} of chain {chain} lies"
                if last == now_seq + 1
                else f"entries {now_seq + 1}..{last} of chain {chain} lie"
            )
            return bad(now_seq + 1, f"{extra} beyond audit_head (last seq {now_seq})")
        if now is not None and now_seq == last and now[1] != prev:
            return bad(
                last,
                f"entry {last} of chain {chain} (ticket {ticket}): entry_hash differs from "
                f"audit_head.last_hash of chain {chain}",
            )
    return checked, None, prev


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
    """Who consulted this person's data in ``[since, until)``, newest first, over every chain.

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
        entry.chain,
        entry.seq,
        entry.entry_hash,
    ).where(
        entry.person_insz == insz,
        entry.occurred_at >= _utc(since, "since"),
        entry.outcome != Outcome.REFUSED.value,
        entry.destinations != "[]",
    )
    if until is not None:
        query = query.where(entry.occurred_at < _utc(until, "until"))
    query = query.order_by(entry.occurred_at.desc(), entry.chain.desc(), entry.seq.desc())
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
                chain=row.chain,
                seq=row.seq,
                entry_hash=row.entry_hash,
            )
        )
    return result


def entry_by_ticket(conn: Connection, ticket: str) -> AuditEntryView | None:
    """The stored entry with this hub ticket (unique over every chain), or None."""
    row = conn.execute(select(audit_entry).where(audit_entry.c.ticket == ticket)).first()
    if row is None:
        return None
    return AuditEntryView(
        chain=row.chain,
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
