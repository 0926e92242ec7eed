"""Declarations received (the social-risk declarations the RSZ forwards): stored as a file keyed by the
declaration id, the person integrated with the kind's capacity; a repeated delivery changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kruispunt.core.db import make_engine
from kruispunt.network.catalogue import Catalogue
from kruispunt.sources.social.clients import HubDirectory
from kruispunt.sources.social.models import file_table

from .conftest import FakeHub, Urls
from .data import FEDRIS, NOBODY, RVA
from .helpers import PROOF, drs_request, envelope, source_app


def _hub(fake: FakeHub) -> HubDirectory:
    return HubDirectory("http://hub.test", timeout_s=2, transport=fake.transport())


def _files(url: str, insz: str) -> list[tuple[str, str | None, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(file_table.c.kind, file_table.c.key, file_table.c.start).where(
                    file_table.c.insz == insz
                )
            )
            return [(r.kind, r.key, r.start.isoformat()) for r in rows]
    finally:
        engine.dispose()


@pytest.mark.parametrize("scenario", ["WECH001", "WECH005", "ZIMA001", "AOAT001"])
def test_the_example_declarations_follow_the_catalogue(scenario: str) -> None:
    catalogue = Catalogue.load_default()
    mt = catalogue.get(f"drs_{scenario.lower()}", "1")
    assert mt is not None
    request = drs_request(scenario, NOBODY, "41")
    assert catalogue.validate_request(mt, request) == []
    assert catalogue.validate_request(mt, {**request, "risk": {}}) != []
    assert catalogue.validate_request(mt, {k: v for k, v in request.items() if k != "proof"}) != []


def test_rva_receives_a_wech001_once(social_urls: Urls, keys_dir: Path, fake_hub: FakeHub) -> None:
    url = social_urls("rva")[("rva", None)]
    request = drs_request("WECH001", NOBODY, "41")
    with TestClient(source_app("rva", url, keys_dir, hub=_hub(fake_hub))) as client:
        answer = client.post(
            "/consult/drs_wech001", json={**envelope("drs_wech001", request, person=NOBODY), "provider": RVA}
        )
        assert answer.status_code == 200, answer.text
        received = {"kind": "drs_unemployment", "key": "41", "capacity": 902, "start": "2025-05-16"}
        assert answer.json() == {"status": "DATA_FOUND", "data": {"received": received}}
        assert fake_hub.calls == [
            (
                "/directory/register",
                {
                    "institution": RVA,
                    "insz": NOBODY,
                    "capacity": 902,
                    "period": {"start": "2025-05-16", "end": None},
                    "proof": PROOF,
                },
            )
        ]
        repeat = client.post("/consult/drs_wech001", json=envelope("drs_wech001", request, person=NOBODY))
        assert repeat.json() == answer.json()
        assert len(fake_hub.calls) == 1
        assert _files(url, NOBODY) == [("drs_unemployment", "41", "2025-05-16")]

        # a WECH005 is another declaration of the same kind
        monthly = drs_request("WECH005", NOBODY, "42", risk_date="2025-04-01")
        assert (
            client.post("/consult/drs_wech005", json=envelope("drs_wech005", monthly, person=NOBODY)).json()[
                "data"
            ]["received"]["key"]
            == "42"
        )

        listed = client.post(
            "/consult/social_risk_declarations", json=envelope("social_risk_declarations", person=NOBODY)
        )
        declarations = listed.json()["data"]["declarations"]
        assert [(d["scenario"], d["declaration_id"], d["start"]) for d in declarations] == [
            ("WECH005", "42", "2025-04-01"),
            ("WECH001", "41", "2025-05-16"),
        ]
        first = declarations[1]
        assert first["institution"] == RVA
        assert first["kind"] == "drs_unemployment"
        assert first["risk"]["indemnity"] == {"weeks": 13, "amount_cents": 1_250_000}
        assert first["wage_data"]["gross_cents"] == 812_345
        assert "proof" not in first


def test_a_declaration_refused_by_the_hub_or_malformed_leaves_nothing(
    social_urls: Urls, keys_dir: Path, fake_hub: FakeHub
) -> None:
    url = social_urls("fedris")[("fedris", None)]
    request = drs_request("AOAT001", NOBODY, "77")
    with TestClient(source_app("fedris", url, keys_dir, hub=_hub(fake_hub))) as client:
        fake_hub.status = 403
        refused = client.post("/consult/drs_aoat001", json=envelope("drs_aoat001", request, person=NOBODY))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "PROOF_MISMATCH"
        fake_hub.status, fake_hub.down = 200, True
        down = client.post("/consult/drs_aoat001", json=envelope("drs_aoat001", request, person=NOBODY))
        assert down.status_code == 503
        assert _files(url, NOBODY) == []
        fake_hub.down = False
        calls = len(fake_hub.calls)
        bad: list[tuple[dict[str, Any], str | None]] = [
            ({k: v for k, v in request.items() if k != "proof"}, None),
            ({**request, "risk_date": "2025-13-01"}, None),
            ({**request, "declaration_id": "a b"}, None),
            ({**request, "colour": "blue"}, "UNKNOWN_ATTRIBUTE"),
            ({**request, "risk": {"degree": 0.5}}, "FLOAT_ATTRIBUTE"),
        ]
        for body, code in bad:
            answer = client.post("/consult/drs_aoat001", json=envelope("drs_aoat001", body, person=NOBODY))
            assert answer.status_code == 422, answer.text
            if code is not None:
                assert answer.json()["error"]["code"] == code
        assert len(fake_hub.calls) == calls
        ok = client.post("/consult/drs_aoat001", json=envelope("drs_aoat001", request, person=NOBODY))
        assert ok.json()["data"]["received"] == {
            "kind": "drs_work_accident",
            "key": "77",
            "capacity": 10,
            "start": "2025-05-16",
        }
        assert fake_hub.calls[-1][1]["institution"] == FEDRIS
        # the work-accident records stay what they were: a declaration is not a recognised accident
        accidents = client.post("/consult/work_accidents", json=envelope("work_accidents", person=NOBODY))
        assert accidents.json()["status"] == "NO_DATA_FOUND"
