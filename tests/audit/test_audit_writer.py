"""The writer: order, group commit, futures resolved after commit, failures isolated, restart continues."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from audit_helpers import BASE_TIME, make_record, varied_record
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from kruispunt.audit.models import GENESIS_HASH, audit_entry, audit_head, metadata
from kruispunt.audit.schemas import Channel, Outcome
from kruispunt.audit.service import AuditIntegrityError, AuditWriteError, AuditWriter, entry_by_ticket, verify
from kruispunt.core.db import ensure_database, make_engine
from kruispunt.core.migrate import alembic_config, current_revision, head_revision, upgrade


def _seqs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_entry.c.seq).order_by(audit_entry.c.seq)).scalars())


def _head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        row = conn.execute(select(audit_head.c.last_seq, audit_head.c.last_hash)).one()
        return row[0], row[1]


def test_migration_creates_tables_and_genesis_head(audit_engine: Engine) -> None:
    assert current_revision(audit_engine, "audit") == head_revision("audit")
    assert _head(audit_engine) == (0, GENESIS_HASH)
    report = verify(audit_engine)
    assert report.ok
    assert report.checked == 0
    assert report.last_hash == GENESIS_HASH


def test_upgrade_is_idempotent(audit_url: str, audit_engine: Engine) -> None:
    upgrade(audit_url, "audit")
    assert _head(audit_engine) == (0, GENESIS_HASH)


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


def test_append_sync_returns_contiguous_seqs(writer: AuditWriter, audit_engine: Engine) -> None:
    seqs = [writer.append_sync(varied_record(i)) for i in range(1, 6)]
    assert seqs == [1, 2, 3, 4, 5]
    assert _seqs(audit_engine) == [1, 2, 3, 4, 5]
    assert writer.last_seq == 5
    assert _head(audit_engine) == (5, writer.last_hash)
    assert verify(audit_engine).ok


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


def test_second_writer_cannot_fork_the_chain(audit_engine: Engine) -> None:
    one = AuditWriter(audit_engine, flush_ms=0)
    two = AuditWriter(audit_engine, flush_ms=0)
    one.start()
    two.start()
    try:
        assert one.append_sync(make_record()) == 1
        with pytest.raises((AuditIntegrityError, AuditWriteError)):
            two.append_sync(make_record())  # it still believes the log is empty
        assert verify(audit_engine).ok
        # after the failure it re-reads the head and appends after the other writer's entry
        assert two.append_sync(make_record()) == 2
        with pytest.raises((AuditIntegrityError, AuditWriteError)):
            one.append_sync(make_record())
    finally:
        one.close()
        two.close()
    assert verify(audit_engine).ok


def test_start_refuses_a_log_without_head(audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    writer = AuditWriter(audit_engine)
    with pytest.raises(AuditIntegrityError, match="audit_head row missing"):
        writer.start()


def test_start_refuses_entries_beyond_head(writer: AuditWriter, audit_engine: Engine) -> None:
    writer.append_sync(make_record())
    writer.append_sync(make_record())
    writer.close()
    with audit_engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET last_seq = 1"))
    with pytest.raises(AuditIntegrityError, match="beyond audit_head"):
        AuditWriter(audit_engine).start()


def test_start_on_unmigrated_database_raises(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("audit")
    ensure_database(url)
    engine = make_engine(url)
    try:
        with pytest.raises(Exception, match="audit_head"):
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


def test_every_record_field_is_stored(writer: AuditWriter, audit_engine: Engine) -> None:
    record = make_record(reason_code="R1", customer_ticket="my-own-ticket")
    seq = writer.append_sync(record)
    with audit_engine.connect() as conn:
        entry = entry_by_ticket(conn, record.ticket)
        count = conn.execute(select(func.count()).select_from(audit_entry)).scalar()
    assert count == 1
    assert entry is not None
    assert (entry.seq, entry.prev_hash) == (seq, GENESIS_HASH)
    assert entry.model_dump(exclude={"seq", "prev_hash", "entry_hash", "destinations"}) == {
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
