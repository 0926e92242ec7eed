"""``kruispunt doctor`` on a small deployment: everything in order passes; a readable private key, an
expired certificate, a database one migration behind and a log rewritten under its checkpoint each fail
with a line that says what to do."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from typer.testing import CliRunner

from kruispunt.audit.checkpointer import checkpoint_if_grown, log_signing_key
from kruispunt.audit.service import AuditWriter
from kruispunt.cli import app
from kruispunt.core.db import component_url, make_engine
from kruispunt.core.migrate import alembic_config, upgrade
from kruispunt.core.settings import Settings
from kruispunt.doctor import run_checks
from kruispunt.trust.ca import NetworkCA
from tests.audit.audit_helpers import rewrite_from, varied_record

OCMW_GENT = "0212140186"


@pytest.fixture
def deployment(tmp_path: Path) -> Settings:
    ca = NetworkCA.create(tmp_path / "trust")
    ca.save(ca.issue(OCMW_GENT, "OCMW Gent"))
    upgrade(component_url(None, tmp_path, "hub"), "hub")
    audit_url = component_url(None, tmp_path, "audit")
    upgrade(audit_url, "audit")
    engine = make_engine(audit_url)
    with AuditWriter(engine, flush_ms=0) as writer:
        for i in range(1, 6):
            writer.append_sync(varied_record(i))
    checkpoint_if_grown(engine, log_signing_key(tmp_path / "keys"))
    engine.dispose()
    return Settings(data_dir=tmp_path, db_url=None)


def _by_name(settings: Settings) -> dict[str, tuple[str, str]]:
    return {f"{c.area}/{c.name}": (c.status, c.detail) for c in run_checks(settings, services=False)}


def test_a_deployment_in_order_passes(deployment: Settings) -> None:
    checks = _by_name(deployment)
    assert {k: v for k, v in checks.items() if v[0] == "fail"} == {}
    assert checks["trust/network CA"][0] == "ok"
    assert checks[f"trust/certificate {OCMW_GENT}"][0] == "ok"
    assert checks["migrations/hub"] == ("ok", checks["migrations/hub"][1])
    assert checks["migrations/audit"][0] == "ok"
    assert checks["log/hash chains"] == ("ok", "5 entries in 1 chains")
    assert checks["log/checkpoints"][0] == "ok"
    assert checks["keys/published keys"][0] == "ok"


def test_each_problem_fails_with_what_to_do(deployment: Settings) -> None:
    data = deployment.data_dir
    os.chmod(data / "trust" / "institutions" / f"{OCMW_GENT}.key.pem", 0o644)
    ca = NetworkCA.load(data / "trust")
    ca.save(ca.issue("0206731645", "RSZ", days=1, not_before=datetime.now(UTC) - timedelta(days=3)))
    hub_url = component_url(None, data, "hub")
    engine = make_engine(hub_url)
    with engine.begin() as conn:
        cfg = alembic_config("hub")
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    engine.dispose()
    audit = make_engine(component_url(None, data, "audit"))
    rewrite_from(audit, 2, outcome="TAMPERED")
    audit.dispose()
    checks = _by_name(deployment)
    assert checks[f"keys/trust/institutions/{OCMW_GENT}.key.pem"] == ("fail", "mode 0644; chmod 600")
    assert checks["trust/certificate 0206731645"][0] == "fail"
    assert "expired" in checks["trust/certificate 0206731645"][1]
    assert checks["migrations/hub"][0] == "fail"
    assert "upgrade" in checks["migrations/hub"][1]
    assert checks["log/hash chains"][0] == "ok"  # the rewrite keeps the chains consistent …
    assert checks["log/checkpoints"][0] == "fail"  # … but not the signed roots


def test_the_command_exits_1_on_a_failure_and_speaks_json(
    deployment: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRUISPUNT_DATA_DIR", str(deployment.data_dir))
    monkeypatch.delenv("KRUISPUNT_DB_URL", raising=False)
    from kruispunt.core.settings import get_settings

    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(app, ["doctor", "--no-services", "--json"])
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.output)["ok"] is True
        os.chmod(deployment.data_dir / "trust" / "ca.key.pem", 0o640)
        bad = CliRunner().invoke(app, ["doctor", "--no-services"])
        assert bad.exit_code == 1
        assert "fail  keys" in bad.output
        assert bad.output.rstrip().endswith("1 failed")
    finally:
        get_settings.cache_clear()
