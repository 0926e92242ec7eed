"""A social source's quarterly files extract for the data warehouse: the files that overlap the quarter,
harmonised; the RSZ's employers of the quarter; a bad quarter refused."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kruispunt.sources.extracts import read_arrow
from kruispunt.warehouse import extract
from kruispunt.warehouse.schemas import RAW_EMPLOYERS, RAW_FILES

from .conftest import Urls
from .helpers import source_app


def test_a_social_source_extracts_the_files_overlapping_the_quarter(
    sqlite_urls: Urls, tmp_path: Path
) -> None:
    urls = sqlite_urls("rva", "rsz")
    with TestClient(source_app("rva", urls[("rva", None)], tmp_path / "keys")) as rva:
        response = rva.post("/warehouse/extract/files", json={"quarter": "2024Q4"})
        early = rva.post("/warehouse/extract/files", json={"quarter": "1990Q1"})
    assert response.status_code == 200
    files = read_arrow(response.content)
    assert files.schema == RAW_FILES
    assert files.num_rows > 0
    assert set(files["source"].to_pylist()) == {"rva"}
    first, last = extract.quarter_bounds("2024Q4")
    for row in files.to_pylist():
        assert row["start"] <= last
        assert row["end"] is None or row["end"] >= first
    assert read_arrow(early.content).num_rows == 0
    with TestClient(source_app("rsz", urls[("rsz", None)], tmp_path / "keys")) as rsz:
        employers = rsz.post("/warehouse/extract/employers", json={"quarter": "2024Q4"})
        assert employers.status_code == 200
        assert read_arrow(employers.content).schema == RAW_EMPLOYERS
        assert rsz.post("/warehouse/extract/employers", json={"quarter": "x"}).status_code == 422
