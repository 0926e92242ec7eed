"""The writer: order, group commit, futures resolved after commit, failures isolated, restart continues,
one chain per writer (head rows created by the first batch), writers of different chains side by side."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from audit_helpers import BASE_TIME, make_record, varied_record, write_chain_in_process
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, String, func, insert, inspect, select, text, type_coerce
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from kruispunt.audit.models import GENESIS_HASH, MAX_CHAIN, audit_entry, audit_head, metadata
from kruispunt.audit.schemas import AuditRecord, Channel, Outcome
from kruispunt.audit.service import (
    AuditIntegrityError,
    AuditWriteError,
    AuditWriter,
    _as_given,
    _driver_sql,
    _sqlite_time,
    entry_by_ticket,
    verify,
)
from kruispunt.core.db import ensure_database, make_engine
from kruispunt.core.migrate import alembic_config, current_revision, head_revision, upgrade


def _seqs(engine: Engine, chain: int = 0) -> list[int]:
    with engine.connect() as conn:
        query = select(audit_entry.c.seq).where(audit_entry.c.chain == chain).order_by(audit_entry.c.seq)
        return list(conn.execute(query).scalars())


def _head(engine: Engine, chain: int = 0) -> tuple[int, str] | None:
    with engine.connect() as conn:
        query = select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.chain == chain)
        row = conn.execute(query).first()
        return None if row is None else (row[0], row[1])


def _head_chains(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_head.c.chain).order_by(audit_head.c.chain)).scalars())


def test_migration_creates_empty_tables_without_head_rows(audit_engine: Engine) -> None:
    assert current_revision(audit_engine, "audit") == head_revision("audit")
    assert _head_chains(audit_engine) == []
    report = verify(audit_engine)
    assert report.ok
    assert (report.checked, report.chains, report.heads) == (0, 0, {})
    assert report.last_hash == GENESIS_HASH


def test_upgrade_is_idempotent(audit_url: str, audit_engine: Engine) -> None:
    upgrade(audit_url, "audit")
    assert _head_chains(audit_engine) == []


def test_migration_matches_the_models(audit_engine: Engine) -> None:
    with audit_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_downgrade_and_upgrade_again(audit_url: str, audit_engine: Engine) -> None:
    cfg = alembic_config("audit")
    with audit_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "audit_entry" not in inspect(audit_engine).get_table_names()
    upgrade(audit_url, "audit")
    assert {"audit_entry", "audit_head"} <= set(inspect(audit_engine).get_table_names())
    assert inspect(audit_engine).get_pk_constraint("audit_entry")["constrained_columns"] == ["chain", "seq"]
    assert inspect(audit_engine).get_pk_constraint("audit_head")["constrained_columns"] == ["chain"]


@pytest.mark.parametrize("table", ["audit_entry", "audit_head"])
@pytest.mark.parametrize("chain", [-1, MAX_CHAIN + 1])
def test_database_refuses_a_chain_out_of_range(audit_engine: Engine, table: str, chain: int) -> None:
    values = {"audit_head": "(:c, 0, :h, CURRENT_TIMESTAMP)"}.get(
        table,
        "(:c, 1, 't', NULL, CURRENT_TIMESTAMP, 'rest', NULL, NULL, NULL, NULL, NULL, NULL, '[]', NULL, NULL, "
        "NULL, NULL, 'X', NULL, :h, :h)",
    )
    with pytest.raises(IntegrityError), audit_engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} VALUES {values}"), {"c": chain, "h": GENESIS_HASH})


def test_append_sync_returns_contiguous_seqs(writer: AuditWriter, audit_engine: Engine) -> None:
    seqs = [writer.append_sync(varied_record(i)) for i in range(1, 6)]
    assert seqs == [1, 2, 3, 4, 5]
    assert _seqs(audit_engine) == [1, 2, 3, 4, 5]
    assert writer.last_seq == 5
    assert _head(audit_engine) == (5, writer.last_hash)
    assert verify(audit_engine).ok


def test_head_row_is_created_by_the_first_batch_of_a_chain(audit_engine: Engine) -> None:
    writer = AuditWriter(audit_engine, chain=7, flush_ms=0)
    writer.start()
    try:
        assert (writer.chain, writer.last_seq, writer.last_hash) == (7, 0, GENESIS_HASH)
        assert _head_chains(audit_engine) == []  # starting writes nothing
        assert writer.append_sync(make_record()) == 1
        assert _head(audit_engine, 7) == (1, writer.last_hash)
        assert _head_chains(audit_engine) == [7]
        assert writer.append_sync(make_record()) == 2
        assert _head(audit_engine, 7) == (2, writer.last_hash)
    finally:
        writer.close()
    report = verify(audit_engine)
    assert (report.ok, report.checked, report.chains) == (True, 2, 1)
    assert report.heads == {7: writer.last_hash}
    assert report.last_hash == GENESIS_HASH  # chain 0 is empty


@pytest.mark.parametrize("chain", [-1, MAX_CHAIN + 1, True, "1", 1.0, None])
def test_writer_refuses_a_chain_out_of_range(audit_engine: Engine, chain: object) -> None:
    with pytest.raises(ValueError, match="chain must be an integer from 0 to 999"):
        AuditWriter(audit_engine, chain=chain)  # type: ignore[arg-type]


def test_append_async(writer: AuditWriter, audit_engine: Engine) -> None:
    async def main() -> list[int]:
        return [await writer.append(varied_record(i)) for i in range(3)]

    assert asyncio.run(main()) == [1, 2, 3]
    assert verify(audit_engine).ok


def test_many_concurrent_async_and_thread_appenders(audit_engine: Engine) -> None:
    writer = AuditWriter(audit_engine, flush_ms=0.5, batch_max=37)
    writer.start()
    tickets: dict[str, int] = {}

    async def appender(n: int) -> None:
        for i in range(25):
            record = make_record(time=BASE_TIME + timedelta(seconds=n, microseconds=i))
            tickets[record.ticket] = await writer.append(record)

    def thread_appender() -> None:
        for _ in range(50):
            record = make_record()
            tickets[record.ticket] = writer.append_sync(record)

    async def main() -> None:
        await asyncio.gather(*(appender(n) for n in range(64)))

    threads = [threading.Thread(target=thread_appender) for _ in range(4)]
    for t in threads:
        t.start()
    asyncio.run(main())
    for t in threads:
        t.join()
    writer.close()
    total = 64 * 25 + 4 * 50
    assert sorted(tickets.values()) == list(range(1, total + 1))
    assert _seqs(audit_engine) == list(range(1, total + 1))
    with audit_engine.connect() as conn:  # each caller got the seq of its own row
        for ticket, seq in list(tickets.items())[:50]:
            entry = entry_by_ticket(conn, ticket)
            assert entry is not None
            assert entry.seq == seq
    report = verify(audit_engine, page_size=100)
    assert report.ok, report.reason
    assert report.checked == total


def test_future_resolved_only_after_commit(audit_engine: Engine) -> None:
    """Huge window: the writer flushes at batch_max; until then nothing is committed and nobody answered."""
    writer = AuditWriter(audit_engine, flush_ms=600_000, batch_max=3)
    writer.start()
    try:

        async def main() -> None:
            first = asyncio.ensure_future(writer.append(make_record()))
            second = asyncio.ensure_future(writer.append(make_record()))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not first.done()
            assert not second.done()
            assert _seqs(audit_engine) == []
            third = await writer.append(make_record())
            assert third == 3
            assert await first == 1
            assert await second == 2

        asyncio.run(main())
        assert _seqs(audit_engine) == [1, 2, 3]
    finally:
        writer.close()


def test_close_flushes_pending_appends(audit_engine: Engine) -> None:
    writer = AuditWriter(audit_engine, flush_ms=600_000, batch_max=1000)
    writer.start()

    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(writer.append(make_record())) for _ in range(5)]
        await asyncio.sleep(0)  # every task has queued its record and now waits for its future
        assert not any(t.done() for t in tasks)
        writer.close()  # the writer is inside its 10-minute window: close must flush, not wait
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(asyncio.wait_for(main(), timeout=60)) == [1, 2, 3, 4, 5]
    assert verify(audit_engine).ok
    with pytest.raises(RuntimeError, match="not running"):
        writer.append_sync(make_record())
    writer.close()  # idempotent


def test_append_before_start_is_refused(audit_engine: Engine) -> None:
    writer = AuditWriter(audit_engine)
    with pytest.raises(RuntimeError, match="not running"):
        writer.append_sync(make_record())


def test_db_error_fails_the_whole_batch_and_writer_carries_on(audit_engine: Engine) -> None:
    writer = AuditWriter(audit_engine, flush_ms=600_000, batch_max=4)
    writer.start()
    try:
        taken = make_record()
        first_batch = [make_record(), make_record(), make_record(), taken]

        async def main() -> list[int | BaseException]:
            return await asyncio.gather(*(writer.append(r) for r in first_batch), return_exceptions=True)

        assert asyncio.run(main()) == [1, 2, 3, 4]
        # a duplicate ticket makes the database refuse the second batch: all four callers get the error
        second_batch = [make_record(), make_record(ticket=taken.ticket), make_record(), make_record()]

        async def again() -> list[int | BaseException]:
            return await asyncio.gather(*(writer.append(r) for r in second_batch), return_exceptions=True)

        results = asyncio.run(again())
        assert all(isinstance(r, AuditWriteError) for r in results), results
        assert all(isinstance(r.original, IntegrityError) for r in results if isinstance(r, AuditWriteError))
        error = results[0]
        assert isinstance(error, AuditWriteError)
        assert "IntegrityError" in str(error)
        assert "85073003328" not in str(error)  # no personal data of the other callers in the message
        assert error.__cause__ is None
        assert writer.last_seq == 4

        # … and the next batch is written normally, continuing the chain
        async def third() -> list[int]:
            return list(await asyncio.gather(*(writer.append(make_record()) for _ in range(4))))

        assert asyncio.run(asyncio.wait_for(third(), timeout=60)) == [5, 6, 7, 8]
    finally:
        writer.close()
    assert _seqs(audit_engine) == list(range(1, 9))
    assert verify(audit_engine).ok


def test_restart_continues_the_chain(audit_engine: Engine) -> None:
    with AuditWriter(audit_engine, flush_ms=0) as w:
        assert w.append_sync(make_record()) == 1
        assert w.append_sync(make_record()) == 2
        last = w.last_hash
    with AuditWriter(audit_engine, flush_ms=0) as w:
        assert w.last_seq == 2
        assert w.last_hash == last
        assert w.append_sync(make_record()) == 3
    report = verify(audit_engine)
    assert report.ok
    assert report.checked == 3


@pytest.mark.parametrize("chain", [0, 3])
def test_second_writer_cannot_fork_the_chain(audit_engine: Engine, chain: int) -> None:
    one = AuditWriter(audit_engine, chain=chain, flush_ms=0)
    two = AuditWriter(audit_engine, chain=chain, flush_ms=0)
    one.start()
    two.start()
    try:
        assert one.append_sync(make_record()) == 1  # creates the chain's head row
        with pytest.raises(AuditIntegrityError, match=f"audit_head of chain {chain} was created by another"):
            two.append_sync(make_record())  # it still believes the chain is new
        assert verify(audit_engine).ok
        # after the failure it re-reads the head and appends after the other writer's entry
        assert two.append_sync(make_record()) == 2
        with pytest.raises(AuditIntegrityError, match=f"audit_head of chain {chain} is no longer at seq 1"):
            one.append_sync(make_record())
        assert one.append_sync(make_record()) == 3
    finally:
        one.close()
        two.close()
    assert _seqs(audit_engine, chain) == [1, 2, 3]
    report = verify(audit_engine)
    assert (report.ok, report.checked, report.chains) == (True, 3, 1)


def _race(writers: list[AuditWriter]) -> list[int | BaseException]:
    """Each writer appends one record from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(writers))
    outcomes: list[int | BaseException] = [0] * len(writers)

    def one(i: int) -> None:
        record = make_record()
        barrier.wait()
        try:
            outcomes[i] = writers[i].append_sync(record, timeout=60)
        except (AuditIntegrityError, AuditWriteError) as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(writers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_two_writers_racing_to_create_one_chain_one_fails_cleanly(audit_engine: Engine) -> None:
    """Both start on a chain without head row and commit their first batch at the same moment."""
    writers = [AuditWriter(audit_engine, chain=5, flush_ms=0) for _ in range(2)]
    for w in writers:
        w.start()
    try:
        outcomes = _race(writers)
        assert sorted(o for o in outcomes if isinstance(o, int)) == [1], outcomes
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(lost) == 1
        assert isinstance(lost[0], AuditIntegrityError)  # not a database error: a clear refusal
        assert "audit_head of chain 5 was created by another writer" in str(lost[0])
        assert _head_chains(audit_engine) == [5]
        assert _seqs(audit_engine, 5) == [1]
        assert verify(audit_engine).ok
        for _ in range(3):  # racing on an existing head: never a fork, at least one gets through
            outcomes = _race(writers)
            assert any(isinstance(o, int) for o in outcomes), outcomes
            assert verify(audit_engine).ok
    finally:
        for w in writers:
            w.close()
    report = verify(audit_engine)
    assert (report.ok, report.chains) == (True, 1)
    assert _seqs(audit_engine, 5) == list(range(1, report.checked + 1))


def test_writers_of_two_chains_in_threads_both_work(audit_engine: Engine) -> None:
    """Two writers of one database commit side by side (on SQLite: one write lock, busy timeout)."""
    writers = {chain: AuditWriter(audit_engine, chain=chain, flush_ms=0.5, batch_max=8) for chain in (0, 1)}
    for w in writers.values():
        w.start()
    seqs: dict[int, list[int]] = {0: [], 1: []}
    tickets: dict[str, tuple[int, int]] = {}

    def thread_appender(chain: int, n: int) -> None:
        for i in range(40):
            record = varied_record(n * 100 + i)
            seq = writers[chain].append_sync(record, timeout=60)
            seqs[chain].append(seq)
            tickets[record.ticket] = (chain, seq)

    async def async_appenders(chain: int) -> None:
        async def one(n: int) -> None:
            for i in range(20):
                record = make_record(time=BASE_TIME + timedelta(seconds=n, microseconds=i))
                seq = await writers[chain].append(record)
                seqs[chain].append(seq)
                tickets[record.ticket] = (chain, seq)

        await asyncio.gather(*(one(n) for n in range(16)))

    threads = [
        threading.Thread(target=thread_appender, args=(chain, n)) for chain in (0, 1) for n in range(3)
    ]
    threads += [threading.Thread(target=asyncio.run, args=(async_appenders(chain),)) for chain in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers.values():
        w.close()
    per_chain = 3 * 40 + 16 * 20
    for chain in (0, 1):
        assert sorted(seqs[chain]) == list(range(1, per_chain + 1))
        assert _seqs(audit_engine, chain) == list(range(1, per_chain + 1))
        assert _head(audit_engine, chain) == (per_chain, writers[chain].last_hash)
    with audit_engine.connect() as conn:  # every caller got the chain and seq of its own row
        for ticket, (chain, seq) in list(tickets.items())[::37]:
            entry = entry_by_ticket(conn, ticket)
            assert entry is not None
            assert (entry.chain, entry.seq) == (chain, seq)
    report = verify(audit_engine, page_size=50)
    assert report.ok, report.reason
    assert (report.checked, report.chains) == (2 * per_chain, 2)
    assert report.heads == {0: writers[0].last_hash, 1: writers[1].last_hash}
    assert report.last_hash == writers[0].last_hash


def test_writers_of_four_chains_in_processes_all_work(audit_url: str, audit_engine: Engine) -> None:
    """The deployment shape: one writer per worker process, all on one database."""
    count = 150
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.starmap(write_chain_in_process, [(audit_url, chain, count) for chain in (0, 1, 2, 9)])
    for chain, (last_seq, last_hash) in zip((0, 1, 2, 9), results, strict=True):
        assert last_seq == count
        assert _head(audit_engine, chain) == (count, last_hash)
        assert _seqs(audit_engine, chain) == list(range(1, count + 1))
    report = verify(audit_engine, page_size=64)
    assert report.ok, report.reason
    assert (report.checked, report.chains) == (4 * count, 4)
    assert report.heads == {chain: h for chain, (_, h) in zip((0, 1, 2, 9), results, strict=True)}


def test_start_refuses_a_chain_whose_head_row_was_removed(writer: AuditWriter, audit_engine: Engine) -> None:
    writer.append_sync(make_record())
    writer.close()
    with audit_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(AuditIntegrityError, match="audit_head row of chain 0 missing, but audit_entry holds"):
        AuditWriter(audit_engine).start()
    with AuditWriter(audit_engine, chain=1) as other:  # another chain is not affected
        assert other.append_sync(make_record()) == 1


def test_start_refuses_entries_beyond_head(writer: AuditWriter, audit_engine: Engine) -> None:
    writer.append_sync(make_record())
    writer.append_sync(make_record())
    writer.close()
    with audit_engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET last_seq = 1 WHERE chain = 0"))
    with pytest.raises(AuditIntegrityError, match="seq 2 of chain 0 beyond its audit_head"):
        AuditWriter(audit_engine).start()
    with AuditWriter(audit_engine, chain=1) as other:  # per chain: chain 1 is fine
        assert other.append_sync(make_record()) == 1


def test_start_on_unmigrated_database_raises(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("audit")
    ensure_database(url)
    engine = make_engine(url)
    try:
        with pytest.raises(Exception, match=r"audit_(entry|head)"):
            AuditWriter(engine).start()
    finally:
        engine.dispose()


def test_cancelled_caller_is_logged_anyway(audit_engine: Engine) -> None:
    writer = AuditWriter(audit_engine, flush_ms=600_000, batch_max=2)
    writer.start()
    try:

        async def main() -> None:
            record = make_record()
            task = asyncio.ensure_future(writer.append(record))
            await asyncio.sleep(0)
            task.cancel()
            assert await writer.append(make_record()) == 2

        asyncio.run(main())
    finally:
        writer.close()
    assert _seqs(audit_engine) == [1, 2]
    assert verify(audit_engine).ok


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"time": datetime(2025, 1, 1)}, ValueError),  # naive
        ({"ticket": "not-a-uuid"}, ValueError),
        ({"ticket": str(uuid.uuid4()).upper()}, ValueError),
        ({"capacity": "101"}, TypeError),
        ({"capacity": True}, TypeError),
        ({"requester_sector": 2**40}, ValueError),
        ({"person": 85073003328}, TypeError),
        ({"user": "a\x00b"}, ValueError),
        ({"legal_context": "bad \ud800 surrogate"}, ValueError),
        ({"destinations": "0403019261"}, TypeError),
        ({"destinations": (403019261,)}, TypeError),
        ({"destinations": ("\ud800",)}, ValueError),
        ({"outcome": ""}, ValueError),
        ({"channel": None}, ValueError),
    ],
)
def test_bad_record_fails_only_its_caller(
    writer: AuditWriter, audit_engine: Engine, overrides: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        writer.append_sync(make_record(**overrides))

    async def main() -> None:
        with pytest.raises(error):
            await writer.append(make_record(**overrides))

    asyncio.run(main())
    assert writer.append_sync(make_record()) == 1
    assert verify(audit_engine).ok


def test_values_are_normalised_before_hashing(writer: AuditWriter, audit_engine: Engine) -> None:
    brussels = timezone(timedelta(hours=2))
    record = make_record(
        channel=Channel.SOAP,
        outcome=Outcome.NO_DATA_FOUND,
        time=datetime(2025, 6, 1, 11, 0, 0, 5, tzinfo=brussels),
        destinations=["0403019261", "0428759497"],
        message_type=None,
        version=None,
        requester=None,
        requester_sector=None,
        requester_type=None,
        person=None,
        capacity=None,
    )
    writer.append_sync(record)
    with audit_engine.connect() as conn:
        entry = entry_by_ticket(conn, record.ticket)
    assert entry is not None
    assert entry.channel == "soap"
    assert type(entry.channel) is str
    assert entry.outcome == "NO_DATA_FOUND"
    assert entry.time == datetime(2025, 6, 1, 9, 0, 0, 5, tzinfo=UTC)
    assert entry.destinations == ["0403019261", "0428759497"]
    assert entry.message_type is None
    assert verify(audit_engine).ok


class _OddDatetime(datetime):
    """A datetime subclass with its own ISO form (as some libraries' timestamps have)."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "not the standard form"


def test_datetime_subclass_is_stored_and_hashed_as_a_plain_datetime(
    writer: AuditWriter, audit_engine: Engine
) -> None:
    odd = _OddDatetime(2025, 6, 1, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    record = make_record(time=odd)
    writer.append_sync(record)
    writer.append_sync(make_record(time=_OddDatetime(2025, 6, 1, 9, 0, 0, 7, tzinfo=UTC)))
    with audit_engine.connect() as conn:
        entry = entry_by_ticket(conn, record.ticket)
    assert entry is not None
    assert entry.time == datetime(2025, 6, 1, 9, 0, 0, 5, tzinfo=UTC)
    assert verify(audit_engine).ok


def test_every_record_field_is_stored(writer: AuditWriter, audit_engine: Engine) -> None:
    record = make_record(reason_code="R1", customer_ticket="my-own-ticket")
    seq = writer.append_sync(record)
    with audit_engine.connect() as conn:
        entry = entry_by_ticket(conn, record.ticket)
        count = conn.execute(select(func.count()).select_from(audit_entry)).scalar()
    assert count == 1
    assert entry is not None
    assert (entry.chain, entry.seq, entry.prev_hash) == (0, seq, GENESIS_HASH)
    assert entry.model_dump(exclude={"chain", "seq", "prev_hash", "entry_hash", "destinations"}) == {
        "ticket": record.ticket,
        "customer_ticket": "my-own-ticket",
        "time": BASE_TIME,
        "channel": "rest",
        "message_type": "identify_person",
        "version": "1",
        "requester": "0244640631",
        "requester_sector": 17,
        "requester_type": 1,
        "user": "app-42",
        "person": "85073003328",
        "capacity": 101,
        "deliberation": "24/123",
        "legal_context": "PCSA:SOCIAL_INQUIRY",
        "outcome": "DATA_FOUND",
        "reason_code": "R1",
    }
    assert entry.destinations == ["0403019261"]


def _stored(engine: Engine, chain: int) -> list[dict[str, object]]:
    """The rows of a chain as stored (the time as the database's own text), without what differs per chain."""
    columns = [
        type_coerce(c, String()).label(c.name) if c.name == "occurred_at" else c for c in audit_entry.c
    ]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).where(audit_entry.c.chain == chain).order_by(audit_entry.c.seq))
        return [
            {k: v for k, v in row._mapping.items() if k not in ("chain", "ticket", "prev_hash", "entry_hash")}
            for row in rows
        ]


def test_driver_level_insert_stores_what_the_sqlalchemy_statement_stores(audit_engine: Engine) -> None:
    """The writer inserts with driver SQL (no per-row SQLAlchemy processing): same stored values."""
    records = [varied_record(i) for i in range(1, 30)]
    with AuditWriter(audit_engine, chain=0, flush_ms=0) as w:
        for r in records:
            w.append_sync(r)
    with audit_engine.begin() as conn:  # the same entries through the SQLAlchemy statement, as chain 1
        rows = [dict(row._mapping) for row in conn.execute(select(audit_entry).order_by(audit_entry.c.seq))]
        for row in rows:
            row.update(chain=1, ticket=str(uuid.uuid4()))
        conn.execute(insert(audit_entry), rows)
    assert _stored(audit_engine, 0) == _stored(audit_engine, 1)
    assert len(_stored(audit_engine, 0)) == len(records)


def test_head_written_with_driver_sql_reads_back(audit_engine: Engine) -> None:
    before = datetime.now(UTC)
    with AuditWriter(audit_engine, flush_ms=0) as w:
        for _ in range(3):  # the first batch creates the head, the others move it
            w.append_sync(make_record())
    with audit_engine.connect() as conn:
        head = conn.execute(select(audit_head)).one()
    assert (head.chain, head.last_seq, head.last_hash) == (0, 3, w.last_hash)
    updated = head.updated_at if head.updated_at.tzinfo else head.updated_at.replace(tzinfo=UTC)
    assert before <= updated <= datetime.now(UTC)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unknown_paramstyle_falls_back_to_the_sqlalchemy_statements(backend: str, audit_url: str) -> None:
    named = make_engine(audit_url, paramstyle="named")  # not a paramstyle the driver-level SQL is written in
    plain = make_engine(audit_url)
    try:
        assert _driver_sql(named.dialect) is None
        sql = _driver_sql(plain.dialect)
        assert sql is not None
        assert sql.insert_entries.startswith("INSERT INTO audit_entry (chain, seq, ticket, ")
        assert sql.stored_time is _sqlite_time
        records = [varied_record(i) for i in range(1, 12)]
        with AuditWriter(plain, chain=0, flush_ms=0) as fast, AuditWriter(named, chain=1, flush_ms=0) as slow:
            for r in records:
                fast.append_sync(r)
                slow.append_sync(make_record(**{**_fields(r), "ticket": str(uuid.uuid4())}))
        assert _stored(plain, 0) == _stored(plain, 1)
        report = verify(plain)
        assert (report.ok, report.checked, report.chains) == (True, 22, 2)
    finally:
        named.dispose()
        plain.dispose()


def _fields(record: AuditRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}


def test_driver_sql_of_postgresql_is_positional() -> None:
    sql = _driver_sql(make_url("postgresql+psycopg://").get_dialect()())
    assert sql is not None
    assert sql.insert_entries.startswith("INSERT INTO audit_entry (chain, seq, ticket, ")
    assert sql.insert_entries.count("%s") == len(audit_entry.c)
    assert sql.move_head == (
        "UPDATE audit_head SET last_seq = %s, last_hash = %s, updated_at = %s "
        "WHERE chain = %s AND last_seq = %s AND last_hash = %s"
    )
    assert sql.stored_time is _as_given  # psycopg is given the datetime itself


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_sqlite_time_text_is_what_sqlalchemy_stores(moment: datetime) -> None:
    dialect = make_url("sqlite://").get_dialect()()
    processor = audit_entry.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    assert _sqlite_time(moment, moment.isoformat(timespec="microseconds")) == processor(moment)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_lost_connection_is_retried_once(backend: str, writer: AuditWriter, audit_engine: Engine) -> None:
    """The server drops the writer's connection between two batches: the next append still succeeds."""
    assert writer.append_sync(make_record()) == 1
    with audit_engine.connect() as conn:
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    assert killed
    assert writer.append_sync(make_record()) == 2
    report = verify(audit_engine)
    assert report.ok, report.reason
