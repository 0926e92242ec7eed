"""Opening and closing a file at runtime: the file is kept only when the hub registered the person."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from kruispunt.core.db import make_engine
from kruispunt.sources.social.clients import HubDirectory
from kruispunt.sources.social.models import file_table

from .conftest import FakeHub, Urls
from .data import INFINO, NOBODY, P1, P4, RVA
from .helpers import envelope, source_app

PROOF = {"person_data": {"last_name": "Peeters", "birth_date": "1966-06-06"}}


def _files(url: str, insz: str) -> list[tuple[str, str | None]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(file_table.c.kind, file_table.c.end).where(file_table.c.insz == insz))
            return [(r.kind, None if r.end is None else r.end.isoformat()) for r in rows]
    finally:
        engine.dispose()


def _hub(fake: FakeHub) -> HubDirectory:
    return HubDirectory("http://hub.test", timeout_s=2, transport=fake.transport())


def test_hub_refusing_or_unreachable_leaves_nothing(
    social_urls: Urls, keys_dir: Path, fake_hub: FakeHub
) -> None:
    url = social_urls("rva")[("rva", None)]
    body = {
        "insz": NOBODY,
        "kind": "unemployment",
        "start": "2025-05-01",
        "attrs": {"category": "single", "daily_amount_cents": 6_000, "payment_body": "HVW"},
        "proof": PROOF,
    }
    with TestClient(source_app("rva", url, keys_dir, hub=_hub(fake_hub))) as client:
        fake_hub.status = 403
        refused = client.post("/files", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "PROOF_MISMATCH"
        assert refused.json()["error"]["details"]["nothing_kept"] is True
        assert fake_hub.calls[-1][0] == "/directory/register"
        assert _files(url, NOBODY) == []

        fake_hub.status, fake_hub.down = 200, True
        down = client.post("/files", json=body)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "HUB_UNAVAILABLE"
        assert _files(url, NOBODY) == []

        fake_hub.down = False
        opened = client.post("/files", json=body)
        assert opened.status_code == 201, opened.text
        assert _files(url, NOBODY) == [("unemployment", None)]
        path, registered = fake_hub.calls[-1]
        assert path == "/directory/register"
        assert registered == {
            "institution": RVA,
            "insz": NOBODY,
            "capacity": 1,
            "period": {"start": "2025-05-01", "end": None},
            "proof": PROOF,
        }
        found = client.post(
            "/consult/unemployment_status", json=envelope("unemployment_status", person=NOBODY)
        )
        assert found.json()["data"]["unemployment_periods"][0]["daily_amount_cents"] == 6_000


def test_open_validates_and_close_unregisters(keys_dir: Path, fake_hub: FakeHub, sqlite_urls: Urls) -> None:
    urls = sqlite_urls("rva", "child_benefit")
    with TestClient(source_app("rva", urls[("rva", None)], keys_dir, hub=_hub(fake_hub))) as client:
        good = {"insz": P4, "kind": "career_break", "start": "2025-01-01", "attrs": {"scheme": "time_credit"}}
        for change, code in [
            ({"kind": "pension"}, "UNKNOWN_KIND"),
            ({"attrs": {"colour": "blue"}}, "UNKNOWN_ATTRIBUTE"),
            ({"attrs": {"scheme": "time_credit", "fraction": 0.2}}, "FLOAT_ATTRIBUTE"),
            ({"member": INFINO}, "UNKNOWN_MEMBER"),
        ]:
            answer = client.post("/files", json={**good, "proof": PROOF, **change})
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] == code
        for change in [{"insz": "12345678901"}, {"end": "2024-01-01"}, {"proof": {}}, {"attrs": []}]:
            assert client.post("/files", json={**good, "proof": PROOF, **change}).status_code == 422
        assert fake_hub.calls == []  # nothing invalid reached the hub

        opened = client.post("/files", json={**good, "proof": PROOF})
        assert opened.status_code == 201, opened.text
        file_id = opened.json()["file"]["id"]
        assert opened.json()["file"]["capacity"] == 2

        early = client.post(f"/files/{file_id}/close", json={"end": "2024-12-31", "proof": PROOF})
        assert early.status_code == 422
        closed = client.post(f"/files/{file_id}/close", json={"end": "2025-03-31", "proof": PROOF})
        assert closed.status_code == 200, closed.text
        assert closed.json()["file"]["end"] == "2025-03-31"
        path, unregistered = fake_hub.calls[-1]
        assert path == "/directory/unregister"
        assert unregistered["period"] == {"start": "2025-01-01", "end": "2025-03-31"}
        assert unregistered["capacity"] == 2
        again = client.post(f"/files/{file_id}/close", json={"end": "2025-04-30", "proof": PROOF})
        assert again.status_code == 409
        assert (
            client.post("/files/999999/close", json={"end": "2025-04-30", "proof": PROOF}).status_code == 404
        )

        # P1 keeps another open file in capacity 1: closing one of them does not end the integration
        second = client.post(
            "/files",
            json={"insz": P1, "kind": "unemployment", "start": "2025-05-02", "attrs": {}, "proof": PROOF},
        )
        calls = len(fake_hub.calls)
        client.post(f"/files/{second.json()['file']['id']}/close", json={"end": "2025-05-20", "proof": PROOF})
        assert len(fake_hub.calls) == calls

    with TestClient(
        source_app("child_benefit", urls[("child_benefit", None)], keys_dir, hub=_hub(fake_hub))
    ) as client:
        body = {
            "insz": NOBODY,
            "kind": "allowance_recipient",
            "start": "2025-01-01",
            "attrs": {},
            "proof": PROOF,
        }
        missing = client.post("/files", json=body)
        assert missing.json()["error"]["code"] == "MEMBER_REQUIRED"
        opened = client.post("/files", json={**body, "member": INFINO})
        assert opened.status_code == 201
        assert fake_hub.calls[-1][1]["institution"] == INFINO
        assert fake_hub.calls[-1][1]["capacity"] == 102

    # no hub configured: nothing can be opened
    with TestClient(source_app("rva", urls[("rva", None)], keys_dir)) as client:
        unconfigured = client.post("/files", json={**good, "proof": PROOF})
        assert unconfigured.status_code == 503
        assert unconfigured.json()["error"]["code"] == "HUB_NOT_CONFIGURED"


def test_the_file_refusals_are_documented(keys_dir: Path, sqlite_urls: Urls) -> None:
    """Found by the OpenAPI fuzzing: closing a closed file is 409, which the document did not name."""
    urls = sqlite_urls("rva")
    with TestClient(source_app("rva", urls[("rva", None)], keys_dir)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/files", "post"),
        ("/files/{file_id}/close", "post"),
        ("/files/{kind}/{key}", "put"),
        ("/files/{kind}/{key}/cancel", "post"),
    ):
        assert {"404", "409", "503"} <= set(paths[path][method]["responses"]), path
    assert "201" in paths["/files/{kind}/{key}"]["put"]["responses"]
