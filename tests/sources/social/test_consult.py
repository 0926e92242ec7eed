"""The consult contract of a primary social source, in process: records, errors, the provider filter, the
one function batches use, and the batch route — on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from kruispunt.sources.common import ConsultRequest
from kruispunt.sources.social.api import consult_one

from .conftest import Urls
from .data import FAMIWAL, INFINO, NOBODY, P1, P2, P3, P5, PARENTIA, RSZ
from .helpers import envelope, source_app


def test_records_grouped_sorted_and_filtered(social_urls: Urls, keys_dir: Path) -> None:
    urls = social_urls("rsz", "child_benefit")
    with TestClient(source_app("rsz", urls[("rsz", None)], keys_dir)) as client:
        answer = client.post("/consult/employment_history", json=envelope("employment_history"))
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert doc["status"] == "DATA_FOUND"
        dimona = doc["data"]["dimona_periods"]
        assert [r["start"] for r in dimona] == ["2018-01-01", "2021-01-01"]  # by start
        assert dimona[0] == {
            "kind": "dimona_period",
            "institution": RSZ,
            "start": "2018-01-01",
            "end": "2020-06-30",
            "employer_kbo": "0870006955",
            "employer_rsz": "010001863",
            "employer_name": "Horeca BV",
            "worker_type": "OTH",
            "joint_committee": "124",
            "dimona_id": "100000000002",
        }
        assert dimona[1]["end"] is None
        assert [r["quarter"] for r in doc["data"]["dmfa_quarters"]] == ["2024-1"]

        # the same files under the reply key of another message type
        inquiry = client.post("/consult/social_inquiry", json=envelope("social_inquiry")).json()
        assert list(inquiry["data"]) == ["employment"]
        assert len(inquiry["data"]["employment"]) == 2

        # a period: only the files that overlap it (no end = up to today)
        period = {"period": {"start": "2020-07-01", "end": "2020-12-31"}}
        none = client.post("/consult/dimona_periods", json=envelope("dimona_periods", period)).json()
        assert none == {"status": "NO_DATA_FOUND", "data": None}
        since = {"period": {"start": "2020-06-30"}}
        both = client.post("/consult/dimona_periods", json=envelope("dimona_periods", since)).json()
        assert len(both["data"]["dimona_periods"]) == 2
        later = {"period": {"start": "2024-06-01"}}
        open_only = client.post("/consult/employment_history", json=envelope("employment_history", later))
        data = open_only.json()["data"]
        assert [r["start"] for r in data["dimona_periods"]] == ["2021-01-01"]
        assert data["dmfa_quarters"] == []  # a reply key without files stays, empty

        unknown = client.post(
            "/consult/employment_history", json=envelope("employment_history", person=NOBODY)
        )
        assert unknown.json() == {"status": "NO_DATA_FOUND", "data": None}

    # child benefit: three funds in one service; the hub names the fund it addresses in ``provider``
    with TestClient(source_app("child_benefit", urls[("child_benefit", None)], keys_dir)) as client:
        mt = "child_benefit_entitlements"
        every = client.post(f"/consult/{mt}", json=envelope(mt)).json()["data"]["entitlements"]
        assert [r["institution"] for r in every] == [PARENTIA, INFINO]
        infino = client.post(f"/consult/{mt}", json=envelope(mt, provider=INFINO)).json()
        assert [r["institution"] for r in infino["data"]["entitlements"]] == [INFINO]
        famiwal = client.post(f"/consult/{mt}", json=envelope(mt, provider=FAMIWAL)).json()
        assert famiwal["status"] == "NO_DATA_FOUND"
        child = client.post(f"/consult/{mt}", json=envelope(mt, person=P5)).json()["data"]["entitlements"]
        assert child[0]["allowance_recipient_insz"] == P1
        assert child[0]["monthly_amount_cents"] == 17_300


def test_refusals_are_json_errors(keys_dir: Path, sqlite_urls: Urls) -> None:
    urls = sqlite_urls("fpd")
    with TestClient(source_app("fpd", urls[("fpd", None)], keys_dir)) as client:
        unknown = client.post("/consult/employment_history", json=envelope("employment_history"))
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "UNKNOWN_MESSAGE_TYPE"
        assert "pension_status" in unknown.json()["error"]["details"]["served"]

        version = client.post("/consult/pension_status", json=envelope("pension_status", version="2"))
        assert version.status_code == 404
        assert version.json()["error"]["code"] == "UNKNOWN_VERSION"

        extra = client.post("/consult/pension_status", json=envelope("pension_status", {"since": "2020"}))
        assert extra.status_code == 422
        assert extra.json()["error"]["code"] == "INVALID_REQUEST"
        backwards = {"period": {"start": "2024-01-01", "end": "2023-01-01"}}
        assert (
            client.post("/consult/pension_status", json=envelope("pension_status", backwards)).status_code
            == 422
        )
        bad_day = {"on": "2025-02-30"}
        assert (
            client.post(
                "/consult/attestation_pension", json=envelope("attestation_pension", bad_day)
            ).status_code
            == 422
        )

        mismatch = client.post("/consult/pension_status", json=envelope("igo_status"))
        assert mismatch.status_code == 422
        no_person = client.post("/consult/pension_status", json=envelope("pension_status", person=None))
        assert no_person.status_code == 422
        not_insz = client.post(
            "/consult/pension_status", json=envelope("pension_status", person="12345678901")
        )
        assert not_insz.status_code == 422
        assert client.post("/consult/pension_status", content=b"{").status_code == 422

        register = client.post(
            "/consult/pension_register", json=envelope("pension_register", person=P3)
        ).json()
        assert [r["kind"] for r in register["data"]["pensions"]] == ["pension"]
        assert [r["cohabiting"] for r in register["data"]["igo"]] == [False]


def test_one_function_answers_every_message_type_and_the_batch_route(
    sqlite_urls: Urls, keys_dir: Path
) -> None:
    """``consult_one`` (``SocialSource.answer`` on the app's database) is what the batch route runs."""
    urls = sqlite_urls("rva")
    app = source_app("rva", urls[("rva", None)], keys_dir)
    with TestClient(app) as client:
        statuses = consult_one(
            app, ConsultRequest[dict[str, Any]].model_validate(envelope("social_statuses", person=P2))
        )
        assert statuses.status == "DATA_FOUND"
        assert statuses.data is not None
        assert [r["kind"] for r in statuses.data["unemployment"]] == ["unemployment", "career_break"]
        single = client.post("/consult/social_statuses", json=envelope("social_statuses", person=P2)).json()
        assert statuses.model_dump(mode="json") == single

        items = [
            envelope("unemployment_payments", person=P1),
            envelope("unemployment_payments", person=P2),
            envelope("unemployment_payments", person=NOBODY),
            envelope("unemployment_payments", {"period": "soon"}),
            envelope("career_break"),
        ]
        batch = client.post("/consult-batch/unemployment_payments", json={"items": items})
        assert batch.status_code == 200, batch.text
        out = batch.json()["items"]
        assert [r["kind"] for r in out[0]["data"]["payments"]] == ["temporary_unemployment"]
        assert [r["payment_body"] for r in out[1]["data"]["payments"]] == ["ACV"]
        assert out[2] == {"status": "NO_DATA_FOUND", "data": None}
        assert out[3]["error"]["status"] == 422
        assert out[4]["error"]["status"] == 422  # another message type than the path's
