"""The name an uploaded Dimona file is sent with is only a label: hostile names (path traversal, absolute
paths, NUL bytes, overlong) never become a path, never a 500; they are kept as text or refused with 422."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.employers.conftest import EmployersApp
from tests.employers.test_dimona_xml import dimona, form_in


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..\\..\\windows\\x.xml",
        "/abs/path.xml",
        "a/../../b.xml",
        "dimona\x00.xml",
        "x" * 300,
    ],
    ids=["dotdot", "backslash", "absolute", "mixed", "nul", "long"],
)
def test_hostile_file_names_are_labels_not_paths(
    employers_app: EmployersApp, name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    api = employers_app
    boss = api.employers[0]
    root = tmp_path_factory.getbasetemp()
    before = _files(root)
    answer = api.client.post(
        f"/dimona/files?filename={quote(name)}",
        content=dimona(form_in(boss["kbo"], api.workers[0], rsz=boss["rsz"])),
        headers=api.headers(None, **{"content-type": "application/xml"}),
    )
    assert answer.status_code in {201, 422}, answer.text
    created = {p for p in _files(root) - before if "passwd" in p.name or p.name.endswith(".xml")}
    assert created == set()
    if answer.status_code == 201:
        kept = api.client.get(f"/submissions/{answer.json()['ticket']}", headers=api.headers()).json()
        assert kept["filename"] == name
    else:
        assert answer.json()["error"]["code"] == "INVALID_REQUEST"
