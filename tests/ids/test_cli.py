"""``kruispunt id check NUMBER``: one JSON line, exit code 0 when valid and 1 when not."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from kruispunt.ids.cli import app

runner = CliRunner()
KEYS = ["valid", "kind", "birth_date", "sex", "reason"]


def _run(number: str) -> tuple[int, dict[str, object], str]:
    result = runner.invoke(app, ["check", number])
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0]), lines[0]


def test_valid_insz() -> None:
    code, body, _ = _run("85.07.30-033.28")
    assert code == 0
    assert list(body) == KEYS
    assert body == {
        "valid": True,
        "kind": "national_register",
        "birth_date": "1985-07-30",
        "sex": "M",
        "reason": None,
    }


@pytest.mark.parametrize(
    ("number", "kind"),
    [("0403019261", "enterprise"), ("2000021323", "establishment"), ("199999934", "rsz_employer")],
)
def test_valid_other_kinds(number: str, kind: str) -> None:
    code, body, _ = _run(number)
    assert code == 0
    assert body == {"valid": True, "kind": kind, "birth_date": None, "sex": None, "reason": None}


@pytest.mark.parametrize(
    ("number", "kind"), [("12345678901", "bis"), ("0431150351", "enterprise"), ("hello", None)]
)
def test_invalid_exits_1_with_reason(number: str, kind: str | None) -> None:
    code, body, _ = _run(number)
    assert code == 1
    assert list(body) == KEYS
    assert body["valid"] is False
    assert body["kind"] == kind
    assert isinstance(body["reason"], str)
    assert body["reason"]


def test_help_lists_check() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "check" in result.stdout


def test_mounted_as_kruispunt_id_check() -> None:
    """The main CLI mounts ``app`` with ``add_typer(app, name="id")``; ``check`` stays a sub-command."""

    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """Root."""

    root.add_typer(app, name="id")
    result = runner.invoke(root, ["id", "check", "0403019261"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["kind"] == "enterprise"
