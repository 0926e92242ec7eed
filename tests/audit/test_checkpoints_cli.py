"""``kruispunt audit checkpoint`` signs the log's state; ``kruispunt audit verify`` then checks the log
against every signed checkpoint, so a rewrite that keeps the hash chains consistent fails it (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

from audit_helpers import rewrite_from
from sqlalchemy import Engine
from test_audit_cli import _location
from typer.testing import CliRunner

from kruispunt.attest.keys import SigningKey, make_kid, public_jwks
from kruispunt.audit.cli import app
from kruispunt.audit.schemas import AuditRecord

runner = CliRunner()


def _options(audit_url: str, keys_home: Path) -> list[str]:
    where = _location(audit_url)
    return where if where[0] == "--data-dir" else [*where, "--data-dir", str(keys_home)]


def test_checkpoint_then_verify_then_a_rewrite_fails(
    chain: list[AuditRecord], audit_url: str, audit_engine: Engine, tmp_path: Path
) -> None:
    options = _options(audit_url, tmp_path)
    made = runner.invoke(app, ["checkpoint", *options])
    assert made.exit_code == 0, made.output
    assert made.output == "checkpoint 1 signed (chain 0: 10 entries)\n"
    again = runner.invoke(app, ["checkpoint", *options])
    assert again.output == "the latest checkpoint already covers the whole log\n"

    ok = runner.invoke(app, ["verify", *options])
    assert ok.exit_code == 0, ok.output
    assert ok.output.endswith("1 signed checkpoints verified against the log\n")

    rewrite_from(audit_engine, 4, outcome="TAMPERED")
    bad = runner.invoke(app, ["verify", "--json", *options])
    assert bad.exit_code == 1, bad.output
    body = json.loads(bad.output)
    assert body["checked"] == 10  # the chains alone see nothing
    assert body["first_bad_seq"] is None
    assert body["checkpoint_problems"] == [
        "checkpoint 1: chain 0's first 10 entries no longer give the signed root: an entry was changed"
    ]


def test_verify_with_another_networks_keys_refuses_the_checkpoints(
    chain: list[AuditRecord], audit_url: str, tmp_path: Path
) -> None:
    options = _options(audit_url, tmp_path)
    assert runner.invoke(app, ["checkpoint", *options]).exit_code == 0
    impostor = tmp_path / "impostor.jwks.json"
    impostor.write_text(json.dumps(public_jwks([SigningKey.generate(kid=make_kid("0244640631", "1"))])))
    result = runner.invoke(app, ["verify", "--keys", str(impostor), *options])
    assert result.exit_code == 1
    assert "signature does not verify" in result.output
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    result = runner.invoke(app, ["verify", "--keys", str(garbage), *options])
    assert result.exit_code == 2
    assert "checkpoint keys cannot be read" in result.output
