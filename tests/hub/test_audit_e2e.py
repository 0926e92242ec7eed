"""The log of a running network verifies; a copy with one altered, removed or reordered entry does not."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import consult, envelope, register, resident


def verify(data_dir: Path) -> tuple[int, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "kruispunt", "audit", "verify", "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.returncode, json.loads(out.stdout)


def snapshot(network: RunningNetwork, target: Path) -> Path:
    """A consistent copy of the live log (SQLite backup API: the WAL is included)."""
    target.mkdir()
    source = sqlite3.connect(network.data_dir / "audit.db")
    copy = sqlite3.connect(target / "audit.db")
    source.backup(copy)
    source.close()
    copy.close()
    return target / "audit.db"


@pytest.mark.parametrize("tamper", ["alter", "remove", "reorder"])
def test_tampering_with_the_network_log_is_caught(
    network: RunningNetwork, people: list[dict[str, Any]], tmp_path: Path, tamper: str
) -> None:
    person = resident(people, 20)
    register(network, person)
    for _ in range(3):
        consult(network, envelope(ssin=person["insz"]))
    code, intact = verify(network.data_dir)
    assert code == 0, intact
    assert intact["ok"] is True

    db = snapshot(network, tmp_path / tamper)
    conn = sqlite3.connect(db)
    target = intact["checked"] - 2
    if tamper == "alter":
        conn.execute("UPDATE audit_entry SET outcome = 'NO_DATA_FOUND' WHERE seq = ?", (target,))
    elif tamper == "remove":
        conn.execute("DELETE FROM audit_entry WHERE seq = ?", (target,))
    else:
        rows = conn.execute(
            "SELECT seq, ticket FROM audit_entry WHERE seq IN (?, ?)", (target, target + 1)
        ).fetchall()
        (a, ta), (b, tb) = rows
        conn.execute("UPDATE audit_entry SET ticket = 'swap' WHERE seq = ?", (a,))
        conn.execute("UPDATE audit_entry SET ticket = ? WHERE seq = ?", (ta, b))
        conn.execute("UPDATE audit_entry SET ticket = ? WHERE seq = ?", (tb, a))
    conn.commit()
    conn.close()
    code, report = verify(db.parent)
    assert code == 1
    assert report["ok"] is False
    assert report["first_bad_seq"] == target
