from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from kruispunt.network.cli import app

from .conftest import DELIBERATIONS_DIR, KSZ

runner = CliRunner()


def test_check_deliberations_ok() -> None:
    result = runner.invoke(app, ["check-deliberations", "--dir", str(DELIBERATIONS_DIR)])
    assert result.exit_code == 0, result.output
    assert "24/001" in result.output
    assert re.search(r"\b\d+ deliberation\(s\) OK", result.output)


def test_check_deliberations_reports_each_problem(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("id: [\n")
    (tmp_path / "b.yaml").write_text("id: '25/001'\n")
    result = runner.invoke(app, ["check-deliberations", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "a.yaml: YAML syntax error" in result.output
    assert "b.yaml: title: missing key" in result.output
    assert "problem(s) in" in result.output


def test_list_institutions() -> None:
    result = runner.invoke(app, ["list-institutions"])
    assert result.exit_code == 0
    assert KSZ in result.output
    assert "bis_register" in result.output
    assert "OCMW Gent" in result.output
