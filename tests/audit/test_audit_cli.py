"""``kruispunt audit verify``: one-line summary or JSON; exit 0 intact, 1 tampered, 2 database unreadable."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from audit_helpers import make_record
from sqlalchemy import Engine, delete, update
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from kruispunt.audit.cli import app
from kruispunt.audit.models import audit_entry
from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter
from kruispunt.core.db import ensure_database
from kruispunt.core.migrate import upgrade

runner = CliRunner()


def _location(audit_url: str) -> list[str]:
    """The ``--data-dir`` / ``--db`` options under which the CLI finds this audit database."""
    url = make_url(audit_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return ["--data-dir", str(Path(url.database).parent)]
    assert url.database is not None
    assert url.database.endswith("_audit")
    return [
        "--db",
        url.set(database=url.database.removesuffix("_audit")).render_as_string(hide_password=False),
    ]


def test_intact_log_exits_0(chain: list[AuditRecord], audit_url: str, writer: AuditWriter) -> None:
    result = runner.invoke(app, ["verify", *_location(audit_url)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"audit log intact: 10 entries verified in 1 chain, chain 0 last hash {writer.last_hash}\n"
    )


def test_intact_log_as_json(chain: list[AuditRecord], audit_url: str, writer: AuditWriter) -> None:
    result = runner.invoke(app, ["verify", "--json", *_location(audit_url)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] is True
    assert body["checked"] == 10
    assert (body["chains"], body["first_bad_chain"], body["first_bad_seq"]) == (1, None, None)
    assert body["last_hash"] == writer.last_hash
    assert body["heads"] == {"0": writer.last_hash}


@pytest.fixture
def two_chains(audit_engine: Engine) -> dict[int, str]:
    """Chains 0 and 3, four entries each."""
    heads = {}
    for chain in (0, 3):
        with AuditWriter(audit_engine, chain=chain, flush_ms=0) as w:
            for _ in range(4):
                w.append_sync(make_record())
        heads[chain] = w.last_hash
    return heads


def test_intact_chains(two_chains: dict[int, str], audit_url: str) -> None:
    result = runner.invoke(app, ["verify", *_location(audit_url)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"audit log intact: 8 entries verified in 2 chains, chain 0 last hash {two_chains[0]}, "
        f"chain 3 last hash {two_chains[3]}\n"
    )
    body = json.loads(runner.invoke(app, ["verify", "--json", *_location(audit_url)]).output)
    assert (body["ok"], body["checked"], body["chains"]) == (True, 8, 2)
    assert body["heads"] == {"0": two_chains[0], "3": two_chains[3]}


def test_tampered_second_chain_exits_1_naming_chain_and_seq(
    two_chains: dict[int, str], audit_url: str, audit_engine: Engine
) -> None:
    with audit_engine.begin() as conn:
        conn.execute(
            update(audit_entry)
            .where(audit_entry.c.chain == 3, audit_entry.c.seq == 2)
            .values(person_insz="75060898009")
        )
    result = runner.invoke(app, ["verify", *_location(audit_url)])
    assert result.exit_code == 1
    assert result.output.startswith("audit log NOT intact: entry 2 of chain 3 (ticket ")
    assert "(5 entries verified before it)" in result.output
    body = json.loads(runner.invoke(app, ["verify", "--json", *_location(audit_url)]).output)
    assert (body["ok"], body["checked"], body["chains"]) == (False, 5, 2)
    assert (body["first_bad_chain"], body["first_bad_seq"]) == (3, 2)
    assert (body["last_hash"], body["heads"]) == (None, {})


def test_tampered_log_exits_1_naming_the_entry(
    chain: list[AuditRecord], audit_url: str, audit_engine: Engine
) -> None:
    with audit_engine.begin() as conn:
        conn.execute(update(audit_entry).where(audit_entry.c.seq == 5).values(outcome="TAMPERED"))
    result = runner.invoke(app, ["verify", *_location(audit_url)])
    assert result.exit_code == 1
    assert result.output.startswith("audit log NOT intact: entry 5 of chain 0 (ticket ")
    assert "4 entries verified before it" in result.output
    as_json = runner.invoke(app, ["verify", "--json", *_location(audit_url)])
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert (body["ok"], body["first_bad_chain"], body["first_bad_seq"], body["checked"]) == (False, 0, 5, 4)
    assert "entry 5 of chain 0 (ticket" in body["reason"]


def test_truncated_log_exits_1(chain: list[AuditRecord], audit_url: str, audit_engine: Engine) -> None:
    with audit_engine.begin() as conn:
        conn.execute(delete(audit_entry).where(audit_entry.c.seq == 10))
    result = runner.invoke(app, ["verify", *_location(audit_url)])
    assert result.exit_code == 1
    assert "tail truncated" in result.output


def test_missing_database_exits_2(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        options = ["--data-dir", str(tmp_path / "nowhere")]
    else:
        options = ["--db", f"postgresql://postgres@127.0.0.1:5432/kpmissing{uuid.uuid4().hex[:8]}"]
    result = runner.invoke(app, ["verify", *options])
    assert result.exit_code == 2
    assert "cannot open the audit database" in result.output
    assert not (tmp_path / "nowhere" / "audit.db").exists()  # verify never creates an empty log
    as_json = runner.invoke(app, ["verify", "--json", *options])
    assert as_json.exit_code == 2
    assert json.loads(as_json.output)["ok"] is None


def test_unmigrated_database_exits_2(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("audit")
    ensure_database(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        Path(parsed.database).touch()
    result = runner.invoke(app, ["verify", *_location(url)])
    assert result.exit_code == 2
    assert "audit_head" in result.output or "audit_entry" in result.output


def test_empty_migrated_log_is_intact(fresh_db: Callable[[str], str]) -> None:
    url = fresh_db("audit")
    upgrade(url, "audit")
    result = runner.invoke(app, ["verify", *_location(url)])
    assert result.exit_code == 0
    assert result.output == "audit log intact: 0 entries verified in 0 chains\n"


@pytest.mark.parametrize("args", [[], ["--help"]])
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert "verify" in result.output
