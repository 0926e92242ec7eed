"""Files addressed by the sender's key (the employers service's at-least-once deliveries): PUT opens or
amends, the same content again changes nothing, cancel removes; the directory line follows the span."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from kruispunt.core.db import make_engine
from kruispunt.sources.social.clients import HubDirectory
from kruispunt.sources.social.models import file_table
from kruispunt.sources.social.seed import file_key

from .conftest import FakeHub, Urls
from .data import DIMONA, INFINO, NOBODY, P1, RSZ
from .helpers import PROOF, envelope, source_app

KIND = "dimona_period"
ATTRS = {
    "employer_kbo": "0870002007",
    "employer_name": "Bouw NV",
    "dimona_id": "100000000101",
    **DIMONA,
}


def _hub(fake: FakeHub) -> HubDirectory:
    return HubDirectory("http://hub.test", timeout_s=2, transport=fake.transport())


def _keyed(url: str, insz: str) -> list[tuple[str | None, str, str | None]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(file_table.c.key, file_table.c.start, file_table.c.end)
                .where(file_table.c.insz == insz, file_table.c.kind == KIND)
                .order_by(file_table.c.start)
            )
            return [(r.key, r.start.isoformat(), None if r.end is None else r.end.isoformat()) for r in rows]
    finally:
        engine.dispose()


def _body(**change: Any) -> dict[str, Any]:
    return {"insz": NOBODY, "start": "2025-02-01", "end": None, "attrs": ATTRS, "proof": PROOF, **change}


def test_put_opens_then_amends_and_a_repeat_changes_nothing(
    social_urls: Urls, keys_dir: Path, fake_hub: FakeHub
) -> None:
    url = social_urls("rsz")[("rsz", None)]
    key = ATTRS["dimona_id"]
    with TestClient(source_app("rsz", url, keys_dir, hub=_hub(fake_hub))) as client:
        created = client.put(f"/files/{KIND}/{key}", json=_body())
        assert created.status_code == 201, created.text
        assert created.json()["change"] == "created"
        assert created.json()["file"]["key"] == key
        assert fake_hub.calls == [
            (
                "/directory/register",
                {
                    "institution": RSZ,
                    "insz": NOBODY,
                    "capacity": 30,
                    "period": {"start": "2025-02-01", "end": None},
                    "proof": PROOF,
                },
            )
        ]
        again = client.put(f"/files/{KIND}/{key}", json=_body())
        assert again.status_code == 200
        assert again.json()["change"] == "unchanged"
        assert again.json()["file"] == created.json()["file"]
        assert len(fake_hub.calls) == 1  # a repeated delivery reaches nobody
        assert _keyed(url, NOBODY) == [(key, "2025-02-01", None)]

        # a Dimona Out: the period ends, the directory line is closed on that day
        ended = client.put(f"/files/{KIND}/{key}", json=_body(end="2025-04-30"))
        assert ended.status_code == 200, ended.text
        assert ended.json()["change"] == "amended"
        path, sent = fake_hub.calls[-1]
        assert path == "/directory/unregister"
        assert sent["period"] == {"start": "2025-02-01", "end": "2025-04-30"}
        # a Dimona Update that starts earlier: the line is widened (the hub merges)
        earlier = client.put(f"/files/{KIND}/{key}", json=_body(start="2025-01-15", end="2025-04-30"))
        assert earlier.json()["change"] == "amended"
        assert fake_hub.calls[-1] == (
            "/directory/register",
            {
                "institution": RSZ,
                "insz": NOBODY,
                "capacity": 30,
                "period": {"start": "2025-01-15", "end": "2025-04-30"},
                "proof": PROOF,
            },
        )
        # only the attributes change: the span is the same, the directory is not asked
        calls = len(fake_hub.calls)
        renamed = client.put(
            f"/files/{KIND}/{key}",
            json=_body(start="2025-01-15", end="2025-04-30", attrs={**ATTRS, "employer_name": "Bouw BV"}),
        )
        assert renamed.json()["change"] == "amended"
        assert renamed.json()["directory"] is None
        assert len(fake_hub.calls) == calls
        seen = client.post("/consult/dimona_periods", json=envelope("dimona_periods", person=NOBODY))
        assert [(p["employer_name"], p["end"]) for p in seen.json()["data"]["dimona_periods"]] == [
            ("Bouw BV", "2025-04-30")
        ]
        assert _keyed(url, NOBODY) == [(key, "2025-01-15", "2025-04-30")]


def test_put_refusals_keep_nothing(social_urls: Urls, keys_dir: Path, fake_hub: FakeHub) -> None:
    url = social_urls("rsz")[("rsz", None)]
    with TestClient(source_app("rsz", url, keys_dir, hub=_hub(fake_hub))) as client:
        for path, body, status, code in [
            ("/files/pension/k1", _body(), 422, "UNKNOWN_KIND"),
            (f"/files/{KIND}/k1", _body(attrs={"colour": "blue"}), 422, "UNKNOWN_ATTRIBUTE"),
            (f"/files/{KIND}/k1", _body(member=INFINO), 422, "UNKNOWN_MEMBER"),
            (f"/files/{KIND}/%20k1", _body(), 422, "INVALID_KEY"),
        ]:
            answer = client.put(path, json=body)
            assert answer.status_code == status, (path, answer.text)
            assert answer.json()["error"]["code"] == code
        assert client.put(f"/files/{KIND}/k1", json=_body(end="2024-01-01")).status_code == 422
        assert client.put(f"/files/{KIND}/k1", json={**_body(), "proof": {}}).status_code == 422
        assert fake_hub.calls == []

        fake_hub.status = 403
        refused = client.put(f"/files/{KIND}/k1", json=_body())
        assert refused.status_code == 403
        assert refused.json()["error"]["details"]["nothing_kept"] is True
        fake_hub.status, fake_hub.down = 200, True
        assert client.put(f"/files/{KIND}/k1", json=_body()).status_code == 503
        assert _keyed(url, NOBODY) == []

        fake_hub.down = False
        assert client.put(f"/files/{KIND}/k1", json=_body()).status_code == 201
        other = client.put(f"/files/{KIND}/k1", json=_body(insz=P1))
        assert other.status_code == 409
        assert other.json()["error"]["code"] == "KEY_CONFLICT"
        # an amendment the hub refuses leaves the file as it was
        fake_hub.status = 403
        assert client.put(f"/files/{KIND}/k1", json=_body(end="2025-03-31")).status_code == 403
        assert _keyed(url, NOBODY) == [("k1", "2025-02-01", None)]


def test_cancel_removes_the_file_and_a_repeat_gets_the_same_answer(
    social_urls: Urls, keys_dir: Path, fake_hub: FakeHub
) -> None:
    url = social_urls("rsz")[("rsz", None)]
    with TestClient(source_app("rsz", url, keys_dir, hub=_hub(fake_hub))) as client:
        unknown = client.post(f"/files/{KIND}/nothing/cancel", json={"proof": PROOF})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "FILE_NOT_FOUND"
        assert client.put(f"/files/{KIND}/a", json=_body(start="2025-01-01")).status_code == 201
        assert (
            client.put(f"/files/{KIND}/b", json=_body(start="2025-03-01", end="2025-03-31")).status_code
            == 201
        )

        # another period remains: the line keeps the span of what is left (it starts at the same day)
        calls = len(fake_hub.calls)
        first = client.post(f"/files/{KIND}/b/cancel", json={"proof": PROOF})
        assert first.status_code == 200, first.text
        assert first.json()["change"] == "cancelled"
        assert first.json()["directory"] is None
        assert len(fake_hub.calls) == calls
        repeat = client.post(f"/files/{KIND}/b/cancel", json={"proof": PROOF})
        assert repeat.status_code == 200
        assert repeat.json() == first.json()
        late = client.put(f"/files/{KIND}/b", json=_body(start="2025-03-01", end="2025-03-31"))
        assert late.status_code == 409
        assert late.json()["error"]["code"] == "FILE_CANCELLED"
        assert _keyed(url, NOBODY) == [("a", "2025-01-01", None)]

        # the last one of that capacity: the directory line is ended (on its first day: it has no removal)
        last = client.post(f"/files/{KIND}/a/cancel", json={"proof": PROOF})
        assert last.status_code == 200, last.text
        assert fake_hub.calls[-1] == (
            "/directory/unregister",
            {
                "institution": RSZ,
                "insz": NOBODY,
                "capacity": 30,
                "period": {"start": "2025-01-01", "end": "2025-01-01"},
                "proof": PROOF,
            },
        )
        assert _keyed(url, NOBODY) == []
        gone = client.post("/consult/dimona_periods", json=envelope("dimona_periods", person=NOBODY))
        assert gone.json()["status"] == "NO_DATA_FOUND"

        # a hub that cannot be reached keeps the file
        assert client.put(f"/files/{KIND}/c", json=_body()).status_code == 201
        fake_hub.down = True
        assert client.post(f"/files/{KIND}/c/cancel", json={"proof": PROOF}).status_code == 503
        assert _keyed(url, NOBODY) == [("c", "2025-02-01", None)]


def test_seeded_rsz_files_have_the_keys_of_the_employers_service(social_urls: Urls) -> None:
    url = social_urls("rsz")[("rsz", None)]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(file_table.c.kind, file_table.c.key)
                .where(file_table.c.insz == P1)
                .order_by(file_table.c.id)
            ).all()
    finally:
        engine.dispose()
    keys = {(r.kind, r.key) for r in rows}
    assert ("dimona_period", "100000000001") in keys
    assert ("dimona_period", "100000000002") in keys
    assert ("dmfa_quarter", f"0870002007:2024-1:{P1}") in keys
    assert file_key("unemployment", P1, {"category": "x"}) is None


def test_two_files_with_one_key_in_a_seed_keep_it_once(fresh_db: Any) -> None:
    from kruispunt.sources.social.seed import seed_social

    from .data import WANTED, row

    url = fresh_db("rsz")
    quarter = {"employer_kbo": "0870002007", "quarter": "2024-1", "worker_code": "495", "gross_cents": 1}
    rows = [
        row(P1, "rsz", "dmfa_quarter", RSZ, 10, "2024-01-01", "2024-03-31", days=100, hours=760, **quarter),
        row(P1, "rsz", "dmfa_quarter", RSZ, 10, "2024-01-01", "2024-03-31", days=200, hours=1520, **quarter),
    ]
    seed_social(urls={("rsz", None): url}, batches=[rows], wanted=WANTED)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            keys = conn.execute(select(file_table.c.key).order_by(file_table.c.id)).scalars().all()
    finally:
        engine.dispose()
    assert keys == [f"0870002007:2024-1:{P1}", None]
