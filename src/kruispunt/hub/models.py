"""Tables of the hub's ``mailbox`` database: batches, the result of each of their lines, asynchronous answers.

A database of its own (component ``mailbox``: SQLite ``<data_dir>/mailbox.db`` or PostgreSQL
``<name>_mailbox``), because what it holds is not routing data: it keeps answers — personal data — until the
requester has collected them (``DELETE /hub/mailbox/{cbeNumber}/{itemId}`` purges them).

* ``batch`` — one uploaded batch file (the file itself stays in ``<data_dir>/batches/<id>/input.jsonl``):
  owner, status, counters, how far the input has been read (``next_line`` / ``next_offset``: every line
  before them has its result committed) and which hub process holds it (``claimed_by`` + ``lease_until_ms``).
* ``batch_result`` — one row per processed input line, key (batch, line number): the exact result line and,
  for a refused line, the exact error-report line. Written in the same transaction that moves ``next_line``,
  so a line's result is stored exactly once whatever restarts happen.
* ``mailbox_message`` — one asynchronous single message (``POST /hub/messages:async``): the request as
  received, then the answer as ``POST /hub/messages`` would have given it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from kruispunt.core.db import new_metadata
from kruispunt.core.tables import BIG_ID

metadata = new_metadata()

QUEUED = "QUEUED"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"

batch_table = Table(
    "batch",
    metadata,
    Column("pk", BIG_ID, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True, comment="public id (UUID)"),
    Column("owner_kbo", String(10), nullable=False, comment="CBE number of the institution that sent it"),
    Column("status", String(8), nullable=False, comment="QUEUED / RUNNING / DONE / FAILED"),
    Column("header", Text, nullable=False, comment="line 1 of the file, as canonical JSON"),
    Column("message_type", String(64), nullable=False),
    Column("message_version", String(16), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("lines_total", Integer, nullable=False, comment="non-empty lines after the header"),
    Column("lines_done", Integer, nullable=False, server_default="0"),
    Column("data_found", Integer, nullable=False, server_default="0"),
    Column("no_data_found", Integer, nullable=False, server_default="0"),
    Column("refused", Integer, nullable=False, server_default="0"),
    Column("next_line", Integer, nullable=False, comment="physical line number (1 = header) read next"),
    Column("next_offset", BigInteger, nullable=False, comment="byte offset of next_line in the input file"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("claimed_by", String(64), nullable=True, comment="hub process that runs it"),
    Column(
        "lease_until_ms", BigInteger, nullable=True, comment="epoch ms; after it another process may claim"
    ),
    Column("failure", Text, nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
)
Index("ix_batch_owner_status", batch_table.c.owner_kbo, batch_table.c.status)
Index("ix_batch_status", batch_table.c.status)

batch_result_table = Table(
    "batch_result",
    metadata,
    Column("batch_pk", BIG_ID, ForeignKey("batch.pk", ondelete="CASCADE"), primary_key=True),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("outcome", String(16), nullable=False, comment="DATA_FOUND / NO_DATA_FOUND / REFUSED"),
    Column("result", Text, nullable=False, comment="the line of results.jsonl"),
    Column("error", Text, nullable=True, comment="the line of errors.jsonl (refused lines only)"),
)

mailbox_message_table = Table(
    "mailbox_message",
    metadata,
    Column("ticket", String(36), primary_key=True, comment="the hub ticket, given at submission"),
    Column("owner_kbo", String(10), nullable=False),
    Column("status", String(8), nullable=False, comment="QUEUED / RUNNING / DONE"),
    Column("request", Text, nullable=True, comment="the body as received; cleared once answered"),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("http_status", Integer, nullable=True, comment="what POST /hub/messages would have answered"),
    Column("answer", Text, nullable=True, comment="the CBSS-style JSON answer"),
    Column("claimed_by", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
)
Index("ix_mailbox_message_owner_status", mailbox_message_table.c.owner_kbo, mailbox_message_table.c.status)
Index("ix_mailbox_message_status", mailbox_message_table.c.status)
