"""Verification: an intact chain passes; every kind of tampering is caught and the first bad seq is named.

Definition under test: ``first_bad_seq`` is the smallest seq at which the log is missing an entry or holds a
wrong one — the altered entry, the deleted entry (the first missing seq), the first of two swapped entries,
the first seq after a truncated tail, the first entry written past the head.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from audit_helpers import make_record, varied_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from kruispunt.audit.models import GENESIS_HASH, audit_entry, audit_head
from kruispunt.audit.schemas import AuditRecord, Outcome
from kruispunt.audit.service import HASHED_FIELDS, AuditWriter, entry_hash, iso_utc, verify
from kruispunt.core.canonical import canonical_json

N = 10  # the `chain` fixture holds seq 1..10


def _row(conn: Connection, seq: int) -> dict[str, Any]:
    return dict(conn.execute(select(audit_entry).where(audit_entry.c.seq == seq)).one()._mapping)


def _ticket(engine: Engine, seq: int) -> str:
    with engine.connect() as conn:
        return str(_row(conn, seq)["ticket"])


def _set(engine: Engine, seq: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(audit_entry).where(audit_entry.c.seq == seq).values(**values))


# -- the hash definition -------------------------------------------------------------------------------------


def test_entry_hash_is_sha256_of_prev_hash_and_canonical_fields() -> None:
    fields = {
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
            + b'{"occurred_at":"2025-01-01T00:00:00.000000+00:00","prev_hash":"'
            + b"0" * 64
            + b'","seq":1,"ticket":"t"}'
        ).hexdigest()
    )


def test_hashed_fields_are_all_columns_but_entry_hash() -> None:
    assert set(HASHED_FIELDS) == {c.name for c in audit_entry.columns} - {"entry_hash"}


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
        assert conn.execute(select(audit_head.c.last_hash)).scalar() == prev


# -- intact ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 3, 10, 1000])
def test_intact_chain_verifies(chain: list[AuditRecord], audit_engine: Engine, page_size: int) -> None:
    report = verify(audit_engine, page_size=page_size)
    assert report.ok, report.reason
    assert (report.checked, report.first_bad_seq, report.reason) == (N, None, None)
    with audit_engine.connect() as conn:
        assert report.last_hash == conn.execute(select(audit_head.c.last_hash)).scalar()
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
    assert report.first_bad_seq == k
    assert report.checked == k - 1
    assert report.reason is not None
    assert f"entry {k} (ticket " in report.reason
    assert "altered" in report.reason
    if field != "ticket":
        assert ticket in report.reason


@pytest.mark.parametrize("k", [1, 2, 7])
def test_deleted_entry_is_named_by_its_seq(chain: list[AuditRecord], audit_engine: Engine, k: int) -> None:
    next_ticket = _ticket(audit_engine, k + 1)
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq == k))
    report = verify(audit_engine)
    assert not report.ok
    assert report.first_bad_seq == k
    assert report.checked == k - 1
    assert report.reason == f"entry {k} missing: the next entry is entry {k + 1} (ticket {next_ticket})"


def test_deleted_range_is_named_by_its_first_seq(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq.between(3, 5)))
    report = verify(audit_engine)
    assert report.first_bad_seq == 3
    assert report.reason is not None
    assert report.reason.startswith("entries 3..5 missing")


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
    assert report.first_bad_seq == N
    assert report.checked == N - 1
    assert report.reason == (
        f"entry {N} missing after entry {N - 1} (ticket {last_kept}): audit_head says the log ends at "
        f"seq {N} (tail truncated)"
    )


def test_everything_deleted_is_detected(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 1, 0)
    assert report.reason is not None
    assert "entries 1..10 missing" in report.reason


def test_tail_truncated_with_head_rewound_is_detected_by_head_hash(
    chain: list[AuditRecord], audit_engine: Engine
) -> None:
    """Deleting the tail and setting last_seq back, but without knowing the hash, still fails."""
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq == N))
        conn.execute(update(audit_head).values(last_seq=N - 1))
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
        fields = {name: row[name] for name in HASHED_FIELDS}
        fields["occurred_at"] = iso_utc(row["occurred_at"])
        conn.execute(
            update(audit_entry)
            .where(audit_entry.c.seq == 5)
            .values(outcome="TAMPERED", entry_hash=entry_hash(row["prev_hash"], fields))
        )
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
        fields = {name: row[name] for name in HASHED_FIELDS}
        fields["occurred_at"] = iso_utc(row["occurred_at"])
        row["entry_hash"] = entry_hash(row["prev_hash"], fields)
        conn.execute(insert(audit_entry).values(row))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq) == (False, N + 1)
    assert report.reason is not None
    assert "beyond audit_head" in report.reason


def test_missing_head_is_detected(chain: list[AuditRecord], audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_head))
    report = verify(audit_engine)
    assert (report.ok, report.first_bad_seq) == (False, None)
    assert report.reason is not None
    assert "audit_head row missing" in report.reason


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
    assert report.first_bad_seq == k, report.reason
    assert verify(audit_engine).ok


def test_chain_with_varied_records_verifies(writer: AuditWriter, audit_engine: Engine) -> None:
    for i in range(40):
        writer.append_sync(varied_record(i))
    writer.append_sync(make_record(time=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)))
    assert verify(audit_engine, page_size=7).ok
