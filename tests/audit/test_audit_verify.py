"""Verification: intact chains pass; every kind of tampering is caught and the first bad chain and seq named.

Definition under test: chains are checked in ascending order; ``first_bad_chain`` is the first chain with a
problem and ``first_bad_seq`` the smallest seq of that chain at which it is missing an entry or holds a
wrong one — the altered entry, the deleted entry (the first missing seq), the first of two swapped entries,
the first seq after a truncated tail, the first entry written past the head.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from audit_helpers import make_record, varied_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from kruispunt.audit.models import GENESIS_HASH, MAX_CHAIN, audit_entry, audit_head
from kruispunt.audit.schemas import AuditRecord, Outcome
from kruispunt.audit.service import HASHED_FIELDS, AuditWriter, entry_hash, iso_utc, verify
from kruispunt.core.canonical import canonical_json

N = 10  # the `chain` fixture holds seq 1..10 of chain 0
PINNED_ENTRY_HASH = "51b541532c1c97ac8a6069b979fcf9ab63f1d53e45e28fc6aafcc2e9ed98a679"


def _entry(seq: int, chain: int = 0) -> Any:
    return (audit_entry.c.chain == chain) & (audit_entry.c.seq == seq)


def _row(conn: Connection, seq: int, chain: int = 0) -> dict[str, Any]:
    return dict(conn.execute(select(audit_entry).where(_entry(seq, chain))).one()._mapping)


def _ticket(engine: Engine, seq: int, chain: int = 0) -> str:
    with engine.connect() as conn:
        return str(_row(conn, seq, chain)["ticket"])


def _set(engine: Engine, seq: int, in_chain: int = 0, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(audit_entry).where(_entry(seq, in_chain)).values(**values))


def _rehash(row: dict[str, Any]) -> str:
    fields = {name: row[name] for name in HASHED_FIELDS}
    fields["occurred_at"] = iso_utc(row["occurred_at"])
    return entry_hash(row["prev_hash"], fields)


# -- the hash definition -------------------------------------------------------------------------------------


def test_entry_hash_is_sha256_of_prev_hash_and_canonical_fields() -> None:
    fields = {
        "chain": 3,
        "seq": 1,
        "ticket": "t",
        "occurred_at": "2025-01-01T00:00:00.000000+00:00",
        "prev_hash": GENESIS_HASH,
    }
    expected = hashlib.sha256(GENESIS_HASH.encode() + canonical_json(fields)).hexdigest()
    assert entry_hash(GENESIS_HASH, fields) == expected
    # pinned: changing the canonical form or the hash construction breaks every stored chain
    assert (
        expected
        == hashlib.sha256(
            b"0" * 64
            + b'{"chain":3,"occurred_at":"2025-01-01T00:00:00.000000+00:00","prev_hash":"'
            + b"0" * 64
            + b'","seq":1,"ticket":"t"}'
        ).hexdigest()
    )


def test_hashed_fields_are_all_columns_but_entry_hash() -> None:
    assert set(HASHED_FIELDS) == {c.name for c in audit_entry.columns} - {"entry_hash"}
    assert len(HASHED_FIELDS) == len(set(HASHED_FIELDS)) == 20


def test_hash_of_a_whole_entry_is_pinned() -> None:
    """Every hashed field, as the writer hashes it: the stored chains depend on these exact bytes."""
    fields = {
        "chain": 2,
        "seq": 7,
        "ticket": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b",
        "customer_ticket": "cust-1",
        "occurred_at": "2025-03-14T09:26:53.589793+00:00",
        "channel": "rest",
        "message_type": "identify_person",
        "message_version": "1",
        "requester_kbo": "0244640631",
        "requester_sector": 17,
        "requester_type": 1,
        "user_id": "app-42",
        "destinations": '["0403019261"]',
        "person_insz": "85073003328",
        "capacity_code": 101,
        "deliberation_id": "24/123",
        "legal_context": "Ünïcode ✓",
        "outcome": "DATA_FOUND",
        "reason_code": None,
        "prev_hash": "a" * 64,
    }
    assert set(fields) == set(HASHED_FIELDS)
    assert canonical_json(fields) == (
        b'{"capacity_code":101,"chain":2,"channel":"rest","customer_ticket":"cust-1",'
        b'"deliberation_id":"24/123","destinations":"[\\"0403019261\\"]",'
        b'"legal_context":"\xc3\x9cn\xc3\xafcode \xe2\x9c\x93","message_type":"identify_person",'
        b'"message_version":"1","occurred_at":"2025-03-14T09:26:53.589793+00:00","outcome":"DATA_FOUND",'
        b'"person_insz":"85073003328","prev_hash":"' + b"a" * 64 + b'","reason_code":null,'
        b'"requester_kbo":"0244640631","requester_sector":17,"requester_type":1,"seq":7,'
        b'"ticket":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b","user_id":"app-42"}'
    )
    assert entry_hash("a" * 64, fields) == PINNED_ENTRY_HASH
    # … and that is plain SHA-256 over sorted, compact, UTF-8 JSON: reproducible without this code base
    plain = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(b"a" * 64 + plain).hexdigest() == PINNED_ENTRY_HASH


def test_iso_utc_forms() -> None:
    assert iso_utc(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2025-01-02T03:04:05.000000+00:00"
    cet = datetime(2025, 1, 2, 5, 4, 5, 7, tzinfo=timezone(timedelta(hours=1)))
    assert iso_utc(cet) == "2025-01-02T04:04:05.000007+00:00"
    assert iso_utc(datetime(2025, 1, 2, 3, 4, 5, 6)) == "2025-01-02T03:04:05.000006+00:00"  # naive = UTC
    assert iso_utc("2025-01-02 03:04:05.000006") == "2025-01-02T03:04:05.000006+00:00"  # SQLite's text


def test_stored_hashes_match_the_definition(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.connect() as conn:
        prev = GENESIS_HASH
        for seq in range(1, N + 1):
            row = _row(conn, seq)
            fields = {name: row[name] for name in HASHED_FIELDS}
            fields["occurred_at"] = iso_utc(row["occurred_at"])
            assert row["prev_hash"] == prev
            assert row["entry_hash"] == entry_hash(prev, fields)
            prev = row["entry_hash"]
        assert conn.execute(select(audit_head.c.last_hash).where(audit_head.c.chain == 0)).scalar() == prev


# -- intact ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 3, 10, 1000])
def test_intact_chain_verifies(chain: list[AuditRecord], audit_engine: Engine, page_size: int) -> None:
    report = verify(audit_engine, page_size=page_size)
    assert report.ok, report.reason
    assert (report.checked, report.first_bad_seq, report.first_bad_chain, report.reason) == (
        N,
        None,
        None,
        None,
    )
    assert report.chains == 1
    with audit_engine.connect() as conn:
        assert report.last_hash == conn.execute(select(audit_head.c.last_hash)).scalar()
        assert report.heads == {0: report.last_hash}
        assert verify(conn).ok  # a connection works too


def test_verify_while_the_writer_appends_gives_no_false_alarm(audit_engine: Engine) -> None:
    writer = AuditWriter(audit_engine, flush_ms=0, batch_max=7)
    writer.start()
    done = threading.Event()

    def keep_appending() -> None:
        while not done.is_set():
            writer.append_sync(make_record())

    thread = threading.Thread(target=keep_appending)
    thread.start()
    try:
        for _ in range(15):
            report = verify(audit_engine, page_size=5)
            assert report.ok, report.reason
    finally:
        done.set()
        thread.join()
        writer.close()
    assert verify(audit_engine).ok


# -- tampering -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", "TAMPERED"),
        ("person_insz", "75460898095"),
        ("person_insz", None),
        ("requester_kbo", "0428759497"),
        ("capacity_code", 102),
        ("destinations", '["0000000000"]'),
        ("occurred_at", datetime(2025, 3, 14, 9, 30, tzinfo=UTC)),
        ("ticket", "00000000-0000-4000-8000-000000000000"),
        ("legal_context", "PCSA:SOMETHING_ELSE"),
    ],
)
@pytest.mark.parametrize("k", [1, 5, N])
def test_changed_field_is_detected_at_its_entry(
    chain: list[AuditRecord], audit_engine: Engine, field: str, value: Any, k: int
) -> None:
    ticket = _ticket(audit_engine, k)
    _set(audit_engine, k, **{field: value})
    report = verify(audit_engine)
    assert not report.ok
    assert (report.first_bad_chain, report.first_bad_seq) == (0, k)
    assert report.checked == k - 1
    assert report.reason is not None
    assert f"entry {k} of chain 0 (ticket " in report.reason
    assert "altered" in report.reason
    if field != "ticket":
        assert ticket in report.reason
    assert report.heads == {}
    assert report.last_hash is None


@pytest.mark.parametrize("k", [1, 2, 7])
def test_deleted_entry_is_named_by_its_seq(chain: list[AuditRecord], audit_engine: Engine, k: int) -> None:
    next_ticket = _ticket(audit_engine, k + 1)
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq == k))
    report = verify(audit_engine)
    assert not report.ok
    assert (report.first_bad_chain, report.first_bad_seq) == (0, k)
    assert report.checked == k - 1
    assert report.reason == (
        f"entry {k} of chain 0 missing: the next entry is entry {k + 1} (ticket {next_ticket})"
    )


def test_deleted_range_is_named_by_its_first_seq(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq.between(3, 5)))
    report = verify(audit_engine)
    assert report.first_bad_seq == 3
    assert report.reason is not None
    assert report.reason.startswith("entries 3..5 of chain 0 missing")


def test_swapped_seq_numbers_are_detected_at_the_first(
    chain: list[AuditRecord], audit_engine: Engine
) -> None:
    with audit_engine.begin() as conn:
        conn.execute(update(audit_entry).where(audit_entry.c.seq == 3).values(seq=-1))
        conn.execute(update(audit_entry).where(audit_entry.c.seq == 6).values(seq=3))
        conn.execute(update(audit_entry).where(audit_entry.c.seq == -1).values(seq=6))
    report = verify(audit_engine)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.reason is not None
    assert "prev_hash" in report.reason


@pytest.mark.parametrize("keep_links", [False, True])
def test_swapped_contents_are_detected_at_the_first(
    chain: list[AuditRecord], audit_engine: Engine, keep_links: bool
) -> None:
    """Swap every stored field of entries 4 and 8 (optionally leaving prev_hash/entry_hash in place)."""
    with audit_engine.begin() as conn:
        a, b = _row(conn, 4), _row(conn, 8)
        moved = [c for c in a if c != "seq" and not (keep_links and c in ("prev_hash", "entry_hash"))]
        conn.execute(update(audit_entry).where(audit_entry.c.seq == 4).values(ticket="swap"))
        conn.execute(update(audit_entry).where(audit_entry.c.seq == 8).values({c: a[c] for c in moved}))
        conn.execute(update(audit_entry).where(audit_entry.c.seq == 4).values({c: b[c] for c in moved}))
    report = verify(audit_engine)
    assert not report.ok
    assert report.first_bad_seq == 4


def test_truncated_tail_is_detected(chain: list[AuditRecord], audit_engine: Engine) -> None:
    last_kept = _ticket(audit_engine, N - 1)
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq == N))
    report = verify(audit_engine)
    assert not report.ok
    assert (report.first_bad_chain, report.first_bad_seq) == (0, N)
    assert report.checked == N - 1
    assert report.reason == (
        f"entry {N} of chain 0 missing after entry {N - 1} (ticket {last_kept}): audit_head says chain 0 "
        f"ends at seq {N} (tail truncated)"
    )


def test_every_entry_deleted_is_detected_by_the_head(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq, report.checked) == (False, 0, 1, 0)
    assert report.reason is not None
    assert "entries 1..10 of chain 0 missing (the chain is empty)" in report.reason


def test_whole_chain_removed_with_its_head_is_invisible_from_inside(
    chain: list[AuditRecord], audit_engine: Engine
) -> None:
    """Documented limit: nothing is left to compare with; only heads published elsewhere show it."""
    published = verify(audit_engine).heads
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry))
        conn.execute(delete(audit_head))
    report = verify(audit_engine)
    assert (report.ok, report.checked, report.chains) == (True, 0, 0)
    assert report.heads != published  # … which is how an outside anchor catches it


def test_tail_truncated_with_head_rewound_is_detected_by_head_hash(
    chain: list[AuditRecord], audit_engine: Engine
) -> None:
    """Deleting the tail and setting last_seq back, but without knowing the hash, still fails."""
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq == N))
        conn.execute(update(audit_head).where(audit_head.c.chain == 0).values(last_seq=N - 1))
    report = verify(audit_engine)
    assert not report.ok
    assert report.first_bad_seq == N - 1
    assert report.reason is not None
    assert "audit_head.last_hash" in report.reason


@pytest.mark.parametrize("garbage", ["", "xyz", "A" * 64, "0" * 63])
def test_garbled_entry_hash_is_detected(chain: list[AuditRecord], audit_engine: Engine, garbage: str) -> None:
    _set(audit_engine, 6, entry_hash=garbage)
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq) == (False, 6)
    assert report.reason is not None
    assert "entry_hash is missing or not 64 lower-case hex digits" in report.reason


def test_changed_prev_hash_is_detected(chain: list[AuditRecord], audit_engine: Engine) -> None:
    _set(audit_engine, 1, prev_hash="1" * 64)
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert report.reason is not None
    assert "genesis" in report.reason


def test_relinked_entry_shows_at_the_next_one(chain: list[AuditRecord], audit_engine: Engine) -> None:
    """An attacker who alters entry 5 and recomputes its hash breaks the link from entry 6."""
    with audit_engine.begin() as conn:
        row = _row(conn, 5)
        row["outcome"] = "TAMPERED"
        conn.execute(update(audit_entry).where(_entry(5)).values(outcome="TAMPERED", entry_hash=_rehash(row)))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 6, 5)
    assert report.reason is not None
    assert "prev_hash does not match the entry_hash of entry 5" in report.reason


def test_entry_appended_past_the_head_is_detected(chain: list[AuditRecord], audit_engine: Engine) -> None:
    """A correctly chained entry inserted behind the writer's back (head not updated)."""
    with audit_engine.begin() as conn:
        last = _row(conn, N)
        row = {
            **last,
            "seq": N + 1,
            "ticket": "00000000-0000-4000-8000-00000000000b",
            "prev_hash": last["entry_hash"],
        }
        row["entry_hash"] = _rehash(row)
        conn.execute(insert(audit_entry).values(row))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 0, N + 1)
    assert report.reason == f"entry {N + 1} of chain 0 lies beyond audit_head (last seq {N})"


def test_missing_head_is_detected(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_head))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 0, None)
    assert report.reason == "audit_head row of chain 0 missing: a truncated tail cannot be ruled out"


def test_changed_head_hash_is_detected(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(update(audit_head).values(last_hash="f" * 64))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq) == (False, N)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_garbled_time_text_is_reported_not_raised(
    chain: list[AuditRecord], audit_engine: Engine, backend: str
) -> None:
    """Only SQLite can hold a non-time in a DateTime column."""
    with audit_engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET occurred_at = 'yesterday' WHERE seq = 4"))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert report.reason is not None
    assert "garbled" in report.reason


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_type_change_is_detected(chain: list[AuditRecord], audit_engine: Engine, backend: str) -> None:
    """Only SQLite lets a text value into an INTEGER column."""
    with audit_engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET capacity_code = 'one-o-one' WHERE seq = 2"))
    assert verify(audit_engine).first_bad_seq == 2


# -- several chains -----------------------------------------------------------------------------------------

SIZES = {0: 6, 1: 9, 4: 5}  # the `chains` fixture: entries per chain
BEFORE_1 = SIZES[0]  # entries checked before chain 1


@pytest.fixture
def chains(audit_engine: Engine) -> dict[int, str]:
    """Chains 0, 1 and 4 written at the same time by three writers (one thread each): chain → last hash."""
    writers = {chain: AuditWriter(audit_engine, chain=chain, flush_ms=0) for chain in SIZES}
    for w in writers.values():
        w.start()

    def fill(chain: int) -> None:
        for i in range(SIZES[chain]):
            writers[chain].append_sync(varied_record(chain * 100 + i), timeout=60)

    threads = [threading.Thread(target=fill, args=(chain,)) for chain in SIZES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers.values():
        w.close()
    return {chain: w.last_hash for chain, w in writers.items()}


@pytest.mark.parametrize("page_size", [1, 4, 1000])
def test_chains_written_concurrently_verify(
    chains: dict[int, str], audit_engine: Engine, page_size: int
) -> None:
    report = verify(audit_engine, page_size=page_size)
    assert report.ok, report.reason
    assert (report.checked, report.chains, report.first_bad_chain) == (sum(SIZES.values()), 3, None)
    assert report.heads == chains
    assert report.last_hash == chains[0]


@pytest.mark.parametrize("k", [1, 4, SIZES[1]])
def test_change_in_chain_1_is_reported_with_chain_1_and_its_seq(
    chains: dict[int, str], audit_engine: Engine, k: int
) -> None:
    ticket = _ticket(audit_engine, k, chain=1)
    _set(audit_engine, k, in_chain=1, outcome="TAMPERED")
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 1, k)
    assert report.checked == BEFORE_1 + k - 1  # chain 0 first, then chain 1 up to the bad entry
    assert report.reason == (
        f"entry {k} of chain 1 (ticket {ticket}): contents do not match entry_hash (a field was altered)"
    )


def test_deleted_entry_of_one_chain_is_named_with_its_chain(
    chains: dict[int, str], audit_engine: Engine
) -> None:
    next_ticket = _ticket(audit_engine, 4, chain=1)
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(_entry(3, chain=1)))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq, report.checked) == (
        False,
        1,
        3,
        BEFORE_1 + 2,
    )
    assert report.reason == f"entry 3 of chain 1 missing: the next entry is entry 4 (ticket {next_ticket})"


@pytest.mark.parametrize("truncated", [1, 4])
@pytest.mark.parametrize("removed", [1, 2, 5])
def test_truncated_tail_of_one_chain_is_detected(
    chains: dict[int, str], audit_engine: Engine, truncated: int, removed: int
) -> None:
    """The newest entries of one chain removed, its head row left: the other chains do not hide it."""
    size = SIZES[truncated]
    with audit_engine.begin() as conn:
        conn.execute(
            delete(audit_entry).where(audit_entry.c.chain == truncated, audit_entry.c.seq > size - removed)
        )
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, truncated, size - removed + 1)
    assert report.reason is not None
    assert f"audit_head says chain {truncated} ends at seq {size} (tail truncated)" in report.reason


def test_missing_head_row_of_one_chain_is_detected(chains: dict[int, str], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_head).where(audit_head.c.chain == 4))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 4, None)
    assert report.checked == SIZES[0] + SIZES[1]
    assert report.reason == "audit_head row of chain 4 missing: a truncated tail cannot be ruled out"


def test_entry_moved_to_a_new_chain_leaves_a_gap(chains: dict[int, str], audit_engine: Engine) -> None:
    _set(audit_engine, 3, in_chain=1, chain=7)
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 1, 3)
    assert report.chains == 4


@pytest.mark.parametrize(("source", "target"), [(1, 7), (4, 2), (0, 999)])
def test_whole_chain_renumbered_with_its_head_is_detected(
    chains: dict[int, str], audit_engine: Engine, source: int, target: int
) -> None:
    """Links and head stay consistent; only the hashed chain number gives the move away."""
    with audit_engine.begin() as conn:
        conn.execute(update(audit_entry).where(audit_entry.c.chain == source).values(chain=target))
        conn.execute(update(audit_head).where(audit_head.c.chain == source).values(chain=target))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, target, 1)
    assert report.reason is not None
    assert f"entry 1 of chain {target} (ticket " in report.reason
    assert "contents do not match entry_hash" in report.reason


def test_two_chains_swapped_with_their_heads_are_detected(
    chains: dict[int, str], audit_engine: Engine
) -> None:
    with audit_engine.begin() as conn:
        for table in (audit_entry, audit_head):
            conn.execute(update(table).where(table.c.chain == 0).values(chain=500))
            conn.execute(update(table).where(table.c.chain == 1).values(chain=0))
            conn.execute(update(table).where(table.c.chain == 500).values(chain=1))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 0, 1)


def test_entry_moved_to_the_end_of_another_chain_is_detected(
    chains: dict[int, str], audit_engine: Engine
) -> None:
    """The last entry of chain 1 appended to chain 0, links and both heads adjusted, hash kept."""
    with audit_engine.begin() as conn:
        moved = _row(conn, SIZES[1], chain=1)
        before = _row(conn, SIZES[1] - 1, chain=1)
        conn.execute(
            update(audit_entry)
            .where(_entry(SIZES[1], chain=1))
            .values(chain=0, seq=SIZES[0] + 1, prev_hash=chains[0])
        )
        conn.execute(
            update(audit_head)
            .where(audit_head.c.chain == 0)
            .values(last_seq=SIZES[0] + 1, last_hash=moved["entry_hash"])
        )
        conn.execute(
            update(audit_head)
            .where(audit_head.c.chain == 1)
            .values(last_seq=SIZES[1] - 1, last_hash=before["entry_hash"])
        )
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 0, SIZES[0] + 1)


def test_verify_while_writers_of_several_chains_append_gives_no_false_alarm(audit_engine: Engine) -> None:
    """Including chains started (head row created) while verify runs."""
    writers = [AuditWriter(audit_engine, chain=chain, flush_ms=0, batch_max=5) for chain in (0, 1, 2, 3)]
    for w in writers[:2]:
        w.start()
    done = threading.Event()

    def keep_appending(w: AuditWriter) -> None:
        while not done.is_set():
            w.append_sync(make_record(), timeout=60)

    threads = [threading.Thread(target=keep_appending, args=(w,)) for w in writers[:2]]
    for t in threads:
        t.start()
    try:
        for i in range(12):
            if i in (3, 6):  # a new chain appears
                w = writers[2 + i // 6]
                w.start()
                threads.append(threading.Thread(target=keep_appending, args=(w,)))
                threads[-1].start()
            report = verify(audit_engine, page_size=3)
            assert report.ok, report.reason
    finally:
        done.set()
        for t in threads:
            t.join()
        for w in writers:
            w.close()
    report = verify(audit_engine)
    assert (report.ok, report.chains) == (True, 4)
    assert report.heads == {w.chain: w.last_hash for w in writers}


def test_empty_head_row_is_an_empty_chain(chains: dict[int, str], audit_engine: Engine) -> None:
    """A head row at seq 0 (no entry yet) is intact only with the genesis hash."""
    with audit_engine.begin() as conn:
        conn.execute(
            insert(audit_head).values(
                chain=9, last_seq=0, last_hash=GENESIS_HASH, updated_at=datetime.now(UTC)
            )
        )
    report = verify(audit_engine)
    assert (report.ok, report.chains, report.heads[9]) == (True, 4, GENESIS_HASH)
    with AuditWriter(audit_engine, chain=9, flush_ms=0) as w:  # and a writer continues it
        assert w.append_sync(make_record()) == 1
    assert verify(audit_engine).ok
    with audit_engine.begin() as conn:
        conn.execute(update(audit_head).where(audit_head.c.chain == 9).values(last_seq=0, last_hash="f" * 64))
        conn.execute(delete(audit_entry).where(audit_entry.c.chain == 9))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, 9, None)
    assert report.reason is not None
    assert "not the genesis hash" in report.reason


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_garbled_chain_number_is_reported(chains: dict[int, str], audit_engine: Engine, backend: str) -> None:
    """Only SQLite can hold a non-number in the column (with its CHECK constraint switched off)."""
    with audit_engine.begin() as conn:
        conn.execute(text("PRAGMA ignore_check_constraints = ON"))
        conn.execute(text("UPDATE audit_entry SET chain = 'four' WHERE chain = 4"))
        conn.execute(text("UPDATE audit_head SET chain = 'four' WHERE chain = 4"))
        conn.execute(text("PRAGMA ignore_check_constraints = OFF"))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_chain, report.first_bad_seq) == (False, None, None)
    assert report.checked == SIZES[0] + SIZES[1]
    assert report.reason == "audit_entry or audit_head holds a garbled chain number 'four' (not 0..999)"


# -- Hypothesis: any single-field change of any entry of a random chain is detected -------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
_NULLABLE_TEXT = {
    "customer_ticket",
    "message_type",
    "message_version",
    "requester_kbo",
    "user_id",
    "person_insz",
    "deliberation_id",
    "legal_context",
    "reason_code",
}
_INTS = {"requester_sector", "requester_type", "capacity_code"}
_INT32 = st.integers(-(2**31), 2**31 - 1)

_records = st.builds(
    make_record,
    time=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
        ),
    ),
    outcome=st.sampled_from(list(Outcome)),
    channel=st.sampled_from(["rest", "soap"]),
    destinations=st.lists(st.from_regex(r"0[0-9]{9}", fullmatch=True), max_size=3).map(tuple),
    person=st.none() | st.from_regex(r"[0-9]{11}", fullmatch=True),
    capacity=st.none() | _INT32,
    requester_sector=st.none() | st.integers(0, 99),
    user=st.none() | _TEXT,
    legal_context=st.none() | _TEXT,
    customer_ticket=st.none() | _TEXT,
    reason_code=st.none() | _TEXT,
)


def _candidates(field: str) -> st.SearchStrategy[list[Any]]:
    """Two distinct new values for ``field``: at least one differs from whatever the entry holds.

    (Drawn independently of the stored value, so that Hypothesis sees the same draws on every replay.)
    """
    values: st.SearchStrategy[Any]
    key: Any = None
    if field == "seq":
        values = st.integers(10**6, 10**9)  # an unused seq: the entry vanishes from its place
    elif field == "chain":
        values = st.integers(1, MAX_CHAIN)  # another chain (only chain 0 is written): moved away
    elif field == "occurred_at":
        values = st.datetimes(
            min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
        key = iso_utc
    elif field == "ticket":
        values = st.uuids().map(str)
    elif field in _INTS:
        values = st.none() | _INT32
    else:
        values = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=64)
        if field in _NULLABLE_TEXT:
            values = st.none() | values
    return (
        st.lists(values, min_size=2, max_size=2, unique_by=key)
        if key
        else st.lists(values, min_size=2, max_size=2, unique=True)
    )


_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@_SETTINGS
@given(data=st.data())
def test_any_single_field_change_is_detected(
    writer: AuditWriter, audit_engine: Engine, data: st.DataObject
) -> None:
    # the chain grows by a few random records per example; each tampering is rolled back afterwards
    for record in data.draw(st.lists(_records, min_size=1, max_size=4), label="appended"):
        writer.append_sync(record)
    k = 1 + data.draw(st.integers(0, 10**6), label="entry index") % writer.last_seq
    field = data.draw(st.sampled_from([*HASHED_FIELDS, "entry_hash"]), label="field")
    candidates = data.draw(_candidates(field), label="new values")
    page_size = data.draw(st.integers(1, 50), label="page size")
    with audit_engine.connect() as conn:
        transaction = conn.begin()
        try:
            old = _row(conn, k)[field]
            same = iso_utc(old) if field == "occurred_at" else old
            new = next(v for v in candidates if (iso_utc(v) if field == "occurred_at" else v) != same)
            conn.execute(update(audit_entry).where(audit_entry.c.seq == k).values({field: new}))
            report = verify(conn, page_size=page_size)
        finally:
            transaction.rollback()
    assert not report.ok
    assert (report.first_bad_chain, report.first_bad_seq) == (0, k), report.reason
    assert verify(audit_engine).ok


def test_chain_with_varied_records_verifies(writer: AuditWriter, audit_engine: Engine) -> None:
    for i in range(40):
        writer.append_sync(varied_record(i))
    writer.append_sync(make_record(time=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)))
    assert verify(audit_engine, page_size=7).ok
