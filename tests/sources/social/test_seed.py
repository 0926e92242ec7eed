"""Bulk loading of the social databases, the member directory and the persons-directory lines, on SQLite and
PostgreSQL: seeding twice is a no-op, other data is not overwritten without force."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest

from kruispunt.core.db import make_engine
from kruispunt.network.registry import Registry
from kruispunt.sources.social import service
from kruispunt.sources.social.models import member_line_table
from kruispunt.sources.social.seed import SeedConflict, Statuses, directory_rows, seed_social, spans

from .data import CM, INFINO, LIBERALE, P1, P2, P4, P5, ROWS, RSZ, SOLIDARIS, WANTED


def _count(url: str) -> tuple[int, dict[str, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return service.count_files(conn), service.get_meta(conn)
    finally:
        engine.dispose()


def test_seed_twice_is_a_no_op_and_other_data_needs_force(fresh_db: Callable[[str], str]) -> None:
    urls = {
        ("rsz", None): fresh_db("rsz"),
        ("mutualities", CM): fresh_db(f"mutuality_{CM}"),
        ("mutualities", LIBERALE): fresh_db(f"mutuality_{LIBERALE}"),
        ("nic", None): fresh_db("nic"),
    }
    report = seed_social(urls=urls, batches=[ROWS[:10], ROWS[10:]], wanted=WANTED)
    assert not report.skipped
    assert report.files == {"rsz": 3, f"mutualities/{CM}": 3, f"mutualities/{LIBERALE}": 2}
    # rows of databases not opened here (other services, other members) and of no service are skipped
    assert report.skipped_rows == len(ROWS) - 8
    assert report.member_lines == {"nic": 5}
    files, meta = _count(urls[("rsz", None)])
    assert files == 3
    assert meta["population.status"] == "complete"
    assert meta["test"] == "hand-made"

    engine = make_engine(urls[("nic", None)])
    with engine.connect() as conn:
        lines = {(r.insz, r.member): (r.start, r.end) for r in conn.execute(member_line_table.select())}
        assert service.members_knowing(conn, insz=P4) == sorted([CM, LIBERALE])
    engine.dispose()
    assert lines[(P4, CM)] == (dt.date(2015, 1, 1), dt.date(2022, 12, 31))
    assert lines[(P1, CM)] == (dt.date(2015, 1, 1), None)  # two files, one open: an open span
    assert lines[(P2, SOLIDARIS)] == (dt.date(2015, 1, 1), None)
    assert (P5, LIBERALE) in lines

    again = seed_social(urls=urls, batches=[ROWS], wanted=WANTED)
    assert again.skipped
    assert again.files == report.files
    assert _count(urls[("rsz", None)])[0] == 3

    other = {**WANTED, "population.seed": "2"}
    with pytest.raises(SeedConflict):
        seed_social(urls=urls, batches=[ROWS[:1]], wanted=other)
    assert _count(urls[("rsz", None)])[0] == 3
    replaced = seed_social(urls=urls, batches=[ROWS[:1]], wanted=other, force=True)
    assert replaced.files["rsz"] == 1
    assert _count(urls[("rsz", None)])[1]["population.seed"] == "2"

    # an interrupted load of the same population is redone from scratch
    engine = make_engine(urls[("rsz", None)])
    with engine.begin() as conn:
        service.set_meta(conn, {"population.status": "loading"})
    engine.dispose()
    redone = seed_social(urls=urls, batches=[ROWS[:2]], wanted=other)
    assert not redone.skipped
    assert _count(urls[("rsz", None)])[0] == 2


def test_directory_lines_span_the_files_per_institution_and_capacity() -> None:
    statuses = Statuses.from_records(ROWS)
    rows = directory_rows(statuses, Registry.load_default(), [RSZ, CM, LIBERALE, INFINO])
    lines = {(r[0], r[1], r[4]): r for r in rows}
    p1_rsz = lines[(P1, RSZ, 30)]
    assert p1_rsz[2:4] == (12, 0)
    assert p1_rsz[6:] == (dt.date(2018, 1, 1), None, "PRIMARY")
    assert lines[(P1, RSZ, 10)][6:8] == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert lines[(P1, CM, 1)][6:] == (dt.date(2015, 1, 1), None, "SECONDARY")
    assert lines[(P4, CM, 1)][6:8] == (dt.date(2015, 1, 1), dt.date(2022, 12, 31))
    assert lines[(P1, INFINO, 102)][8] == "SECONDARY"
    assert all(r[1] in {RSZ, CM, LIBERALE, INFINO} for r in rows)
    assert len(rows) == len(lines)

    s = spans(
        (np.array(["a", "a", "b"]),),
        np.array(["2020-01-01", "2019-05-01", "2021-01-01"], dtype="datetime64[D]"),
        np.array(["2020-12-31", "2024-01-01", "NaT"], dtype="datetime64[D]"),
    )
    assert s.keys[0].tolist() == ["a", "b"]
    assert s.start.astype(str).tolist() == ["2019-05-01", "2021-01-01"]
    assert np.isnat(s.end[1])
    assert str(s.end[0]) == "2024-01-01"
