"""Batches in-process, on SQLite and PostgreSQL: the worker runs a batch through the pipeline
(``Hub.consult_many``), survives a restart mid-way without storing a line twice, and only one of two
workers ever runs a given batch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kruispunt.audit.schemas import AuditRecord
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import upgrade
from kruispunt.core.settings import REPO_ROOT, Settings
from kruispunt.hub.batch import MailboxStore, MailboxWorker, parse_header
from kruispunt.hub.forwarding import ProviderAnswer
from kruispunt.hub.models import batch_result_table
from kruispunt.hub.service import Hub
from kruispunt.ids import make_insz
from kruispunt.network import directory
from kruispunt.network.catalogue import Catalogue
from kruispunt.network.deliberations import load_deliberations
from kruispunt.network.registry import Registry

GENT = "0212140186"
PEOPLE = [make_insz(date(1960, 1, 1 + k % 28), 11 + 2 * k) for k in range(40)]
STRANGER = make_insz(date(1971, 5, 6), 401)  # valid, never integrated
HEADER = {
    "customerIdentification": {"cbeNumber": GENT},
    "userId": "test",
    "legalContext": "PCSA:SOCIAL_INQUIRY",
    "messageType": {"name": "identify_person", "version": "1"},
}


class RecordingLog:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> int:
        self.records.append(record)
        return len(self.records)


class BulkSource:
    """A source with the bulk route: answers every envelope with the person, after a short pause."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.bulk_calls = 0
        self.envelopes = 0

    async def post_many(
        self, *, provider: str, endpoint: str, message_type: str, payloads: list[dict[str, Any]]
    ) -> list[ProviderAnswer]:
        self.bulk_calls += 1
        self.envelopes += len(payloads)
        await asyncio.sleep(self.pause)
        return [
            ProviderAnswer(provider, status="DATA_FOUND", data={"persons": [{"insz": p["person"], "x": 1}]})
            for p in payloads
        ]


def make_hub(tmp_path: Path, source: BulkSource, log: RecordingLog) -> Hub:
    url = component_url(None, tmp_path, "hub")
    upgrade(url, "hub")
    engine = make_engine(url)
    registry = Registry.load_default().with_endpoints(
        {"national_register": "http://127.0.0.1:9", "bis_register": "http://127.0.0.1:9"}
    )
    with engine.begin() as conn:
        directory.seed_registry(conn, registry)
    rows = [(p, GENT, 17, 1, 2, None, date(2024, 1, 1), None, "SECONDARY") for p in PEOPLE]
    directory.bulk_load(engine, rows)
    catalogue = Catalogue.load_default()
    return Hub(
        registry=registry,
        catalogue=catalogue,
        deliberations=load_deliberations(REPO_ROOT / "deliberations", registry=registry, catalogue=catalogue),
        directory_engine=engine,
        audit=log,  # type: ignore[arg-type]
        forwarder=source,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(fresh_db: Callable[[str], str], tmp_path: Path) -> Iterator[MailboxStore]:
    url = fresh_db("mailbox")
    upgrade(url, "mailbox")
    engine = make_engine(url)
    yield MailboxStore(engine, tmp_path / "data")
    engine.dispose()


def submit(store: MailboxStore, lines: list[str]) -> str:
    """What POST /hub/batches does once the body is on disk."""
    batch_id = f"00000000-0000-4000-8000-{len(lines):012d}"
    folder = store.folder(batch_id)
    folder.mkdir(parents=True)
    header = json.dumps(HEADER)
    (folder / "input.jsonl").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    store.create_batch(
        batch_id=batch_id,
        owner=GENT,
        header=parse_header(header.encode()),
        size_bytes=0,
        lines_total=sum(1 for line in lines if line.strip()),
        first_offset=len(header) + 1,
    )
    return batch_id


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "batch_chunk_lines": 10,
        "batch_concurrency": 2,
        "batch_poll_s": 0.05,
        "batch_lease_s": 30.0,
        **overrides,
    }
    return Settings(**values)


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_batch_with_bad_lines_completes_with_results_and_an_error_report(
    store: MailboxStore, tmp_path: Path
) -> None:
    log = RecordingLog()
    source = BulkSource()
    hub = make_hub(tmp_path, source, log)
    lines = [
        PEOPLE[0],
        "",
        json.dumps({"ssin": PEOPLE[1], "request": {"insz": PEOPLE[1]}, "customerTicket": "mine-2"}),
        "not json",
        "12345678901",
        json.dumps({"ssin": PEOPLE[2], "request": {"insz": PEOPLE[2], "bogus": 1}}),
        STRANGER,
        json.dumps({"ssin": PEOPLE[3], "unknown": True}),
        "[1, 2]",
        PEOPLE[4],
    ]
    batch_id = submit(store, lines)

    async def scenario() -> None:
        worker = MailboxWorker(hub, store, settings(tmp_path), "hub-chain-0")
        worker.start()
        await wait_for(lambda: (b := store.batch(batch_id)) is not None and b.status == "DONE")
        await worker.stop()

    asyncio.run(scenario())
    batch = store.batch(batch_id)
    assert batch is not None
    assert (batch.lines_total, batch.lines_done, batch.data_found, batch.refused) == (9, 9, 3, 6)
    folder = store.folder(batch_id)
    results = [json.loads(x) for x in (folder / "results.jsonl").read_text().splitlines()]
    report = [json.loads(x) for x in (folder / "errors.jsonl").read_text().splitlines()]
    # lines are numbered as in the file: the header is line 1, the empty line 3 has no result
    assert [r["line"] for r in results] == [2, 4, 5, 6, 7, 8, 9, 10, 11]
    assert results[0]["status"] == "DATA_FOUND"
    assert results[0]["data"] == {"persons": [{"insz": PEOPLE[0]}]}  # filtered: "x" is not allowed
    assert results[0]["dataFilters"] == ["persons[].x"]
    assert results[1]["customerTicket"] == "mine-2"
    assert {r["line"]: r["reason"] for r in report} == {
        5: "MALFORMED_REQUEST",
        6: "INVALID_SSIN",
        7: "SCHEMA_VIOLATION",
        8: "PERSON_NOT_INTEGRATED",
        9: "SCHEMA_VIOLATION",
        10: "SCHEMA_VIOLATION",
    }
    assert all(r["reasonCode"] and r["diagnostic"] for r in report)
    # every line is an exchange of the log, with the line's ticket
    assert sorted(r.ticket for r in log.records) == sorted(r["ticket"] for r in results)
    assert source.bulk_calls == 1  # one chunk, one provider: one bulk call
    hub.close()


def test_a_restarted_worker_resumes_without_storing_a_line_twice(store: MailboxStore, tmp_path: Path) -> None:
    log = RecordingLog()
    source = BulkSource(pause=0.03)
    hub = make_hub(tmp_path, source, log)
    lines = [PEOPLE[k % len(PEOPLE)] for k in range(300)]
    batch_id = submit(store, lines)

    def done() -> int:
        batch = store.batch(batch_id)
        return batch.lines_done if batch is not None else 0

    async def scenario() -> None:
        first = MailboxWorker(hub, store, settings(tmp_path), "hub-chain-0")
        first.start()
        await wait_for(lambda: done() >= 60)
        await first.stop()  # mid-way: chunks in flight are dropped
        stopped = store.batch(batch_id)
        assert stopped is not None
        assert stopped.status == "RUNNING"
        assert 60 <= stopped.lines_done < 300
        second = MailboxWorker(hub, store, settings(tmp_path), "hub-chain-0")  # same process restarted
        second.start()
        await wait_for(lambda: (b := store.batch(batch_id)) is not None and b.status == "DONE")
        await second.stop()

    asyncio.run(scenario())
    batch = store.batch(batch_id)
    assert batch is not None
    assert (batch.lines_done, batch.data_found) == (300, 300)
    with store.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(batch_result_table)).scalar_one()
    assert stored == 300
    results = (store.folder(batch_id) / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["line"] for x in results] == list(range(2, 302))
    assert len(log.records) >= 300  # lines in flight at the stop ran twice (at-least-once)
    hub.close()


def test_only_one_of_two_workers_runs_a_batch(store: MailboxStore, tmp_path: Path) -> None:
    sources = [BulkSource(pause=0.01), BulkSource(pause=0.01)]
    hubs = [make_hub(tmp_path / str(k), sources[k], RecordingLog()) for k in range(2)]
    batch_id = submit(store, [PEOPLE[k % len(PEOPLE)] for k in range(120)])

    async def scenario() -> None:
        workers = [MailboxWorker(hubs[k], store, settings(tmp_path), f"hub-chain-{k}") for k in range(2)]
        for worker in workers:
            worker.start()
        await wait_for(lambda: (b := store.batch(batch_id)) is not None and b.status == "DONE")
        for worker in workers:
            await worker.stop()

    asyncio.run(scenario())
    assert sorted(s.envelopes for s in sources) == [0, 120]
    for hub in hubs:
        hub.close()


def test_a_lease_that_ran_out_lets_another_worker_take_over(store: MailboxStore) -> None:
    batch_id = submit(store, [PEOPLE[0]] * 5)
    first = store.claim_next_batch("hub-chain-0", lease_s=0.2)
    assert first is not None
    assert first.id == batch_id
    assert store.claim_next_batch("hub-chain-1", lease_s=0.2) is None  # held
    again = store.claim_next_batch("hub-chain-0", lease_s=0.2)  # the holder restarted: its own again
    assert again is not None
    import time

    time.sleep(0.3)
    taken = store.claim_next_batch("hub-chain-1", lease_s=30)
    assert taken is not None
    assert taken.claimed_by == "hub-chain-1"
    assert not store.renew(first.pk, "hub-chain-0", 30)  # the first holder finds out at its next commit


def test_mailbox_lists_finished_items_until_acknowledged(store: MailboxStore) -> None:
    batch_id = submit(store, [PEOPLE[0]])
    claimed = store.claim_next_batch("w", lease_s=30)
    assert claimed is not None
    assert store.batches_of(GENT) == []  # running: not in the mailbox yet
    assert store.finish_batch(claimed.pk, "w", "DONE")
    assert [b.id for b in store.batches_of(GENT)] == [batch_id]
    store.create_message(ticket="t-1", owner=GENT, request=b"{}", received=datetime.now(UTC))
    (message,) = store.claim_messages("w", lease_s=30)
    assert store.messages_of(GENT) == []
    assert store.finish_message(message.ticket, "w", http_status=200, answer=b'{"ok": true}')
    assert [m.ticket for m in store.messages_of(GENT)] == ["t-1"]
    stored = store.message("t-1")
    assert stored is not None
    assert stored.request is None  # the request is not kept once answered
    store.acknowledge_message("t-1")
    batch = store.batch(batch_id)
    assert batch is not None
    store.acknowledge_batch(batch)
    assert store.batches_of(GENT) == []
    assert store.messages_of(GENT) == []
    assert store.batches_of("0000000097") == []
