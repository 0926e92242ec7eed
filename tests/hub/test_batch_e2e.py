"""Batches, asynchronous messages and the mailbox over real HTTP, on the network `kruispunt up` started.

The requester is the demo seed's OCMW Gent with the people the seed integrated for it (read from the hub's
directory); every line runs through the same pipeline as ``POST /hub/messages`` and is logged.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub.network_fixture import RunningNetwork
from tests.hub.test_network_e2e import OCMW_ANTWERPEN, OCMW_GENT, consult, envelope

IDENTITY = "X-Kruispunt-Cbe-Number"
HEADER = {
    "customerIdentification": {"cbeNumber": OCMW_GENT},
    "userId": "e2e-batch",
    "legalContext": "PCSA:SOCIAL_INQUIRY",
    "messageType": {"name": "identify_person", "version": "1"},
}
NOT_INTEGRATED = "85073003328"


def integrated(network: RunningNetwork, kbo: str = OCMW_GENT) -> list[str]:
    """National-register numbers the demo seed integrated for this institution."""
    with sqlite3.connect(network.data_dir / "hub.db") as db:
        rows = db.execute(
            "SELECT insz FROM person_line WHERE institution = ? ORDER BY insz", (kbo,)
        ).fetchall()
    people = [r[0] for r in rows if int(r[0][2:4]) <= 12]
    assert len(people) >= 3, "the demo seed integrated too few people for this test"
    return people


def batch_file(lines: list[str], header: dict[str, Any] | None = None) -> bytes:
    return ("\n".join([json.dumps(header or HEADER), *lines]) + "\n").encode()


def submit(network: RunningNetwork, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{network.hub}/hub/batches",
        content=body,
        headers={"content-type": "application/x-ndjson", **headers},
        timeout=30,
    )


def wait_done(network: RunningNetwork, batch_id: str, cbe: str = OCMW_GENT) -> list[dict[str, Any]]:
    """Every status seen until DONE / FAILED."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = httpx.get(f"{network.hub}/hub/batches/{batch_id}", headers={IDENTITY: cbe}, timeout=10)
        assert status.status_code == 200, status.text
        seen.append(status.json())
        if seen[-1]["status"] in ("DONE", "FAILED"):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} not done: {seen[-1]}")


def jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_batch_with_bad_lines_results_errors_log_and_mailbox(network: RunningNetwork) -> None:
    people = integrated(network)
    lines = [
        people[0],
        json.dumps({"ssin": people[1], "request": {"insz": people[1]}, "customerTicket": "mine"}),
        "this is not json",
        "12345678901",
        json.dumps({"ssin": people[2], "request": {"insz": people[2], "bogus": True}}),
        NOT_INTEGRATED,
        "",
        people[2],
    ]
    accepted = submit(network, batch_file(lines), **{IDENTITY: OCMW_GENT})
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert (body["status"], body["lines"]) == ("QUEUED", 7)
    batch_id = body["batchId"]
    assert accepted.headers["location"] == f"/hub/batches/{batch_id}"

    seen = wait_done(network, batch_id)
    final = seen[-1]
    assert final["status"] == "DONE"
    assert final["counts"] == {"total": 7, "done": 7, "dataFound": 3, "noDataFound": 0, "refused": 4}
    assert final["percent"] == 100.0
    assert final["startedAt"]
    assert final["finishedAt"]
    assert all(s["counts"]["done"] <= t["counts"]["done"] for s, t in itertools.pairwise(seen))

    who = {IDENTITY: OCMW_GENT}
    results = jsonl(httpx.get(f"{network.hub}/hub/batches/{batch_id}/results", headers=who, timeout=10))
    report = jsonl(httpx.get(f"{network.hub}/hub/batches/{batch_id}/errors", headers=who, timeout=10))
    assert [r["line"] for r in results] == [2, 3, 4, 5, 6, 7, 9]
    assert {r["line"]: r["reason"] for r in report} == {
        4: "MALFORMED_REQUEST",
        5: "INVALID_SSIN",
        6: "SCHEMA_VIOLATION",
        7: "PERSON_NOT_INTEGRATED",
    }
    assert {r["line"]: r["reasonCode"] for r in report}[7] == "35012006"
    assert results[1]["customerTicket"] == "mine"

    # a good line's data is exactly what the synchronous route answers (same filtering)
    sync = consult(network, envelope(ssin=people[0]))
    assert sync.status_code == 200
    assert results[0]["status"] == "DATA_FOUND"
    assert results[0]["data"] == sync.json()["data"]
    assert results[0]["deliberation"] == sync.json()["deliberation"] == "24/001"

    # every line is an exchange of the log
    with sqlite3.connect(network.data_dir / "audit.db") as db:
        logged = dict(db.execute("SELECT ticket, outcome FROM audit_entry").fetchall())
    for result in results:
        assert logged[result["ticket"]] == ("REFUSED" if result["status"] == "REFUSED" else result["status"])

    # the mailbox lists it; only the owner reads it
    mailbox = httpx.get(f"{network.hub}/hub/mailbox/{OCMW_GENT}", timeout=10).json()
    assert batch_id in [item["itemId"] for item in mailbox["items"]]
    other = httpx.get(
        f"{network.hub}/hub/batches/{batch_id}/results", params={"cbeNumber": OCMW_ANTWERPEN}, timeout=10
    )
    assert other.status_code == 403
    assert httpx.get(f"{network.hub}/hub/batches/{batch_id}", timeout=10).status_code == 401
    assert httpx.get(f"{network.hub}/hub/mailbox/{OCMW_ANTWERPEN}/{batch_id}", timeout=10).status_code == 403
    malformed = httpx.get(f"{network.hub}/hub/mailbox/abc", timeout=10)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "INVALID_CBE_NUMBER"
    wrong = {IDENTITY: "0212140187"}  # a check-digit error is not an institution
    assert httpx.get(f"{network.hub}/hub/batches/{batch_id}", headers=wrong, timeout=10).status_code == 400

    # acknowledged: gone from the mailbox, results deleted
    gone = httpx.delete(f"{network.hub}/hub/mailbox/{OCMW_GENT}/{batch_id}", timeout=10)
    assert gone.status_code == 204
    mailbox = httpx.get(f"{network.hub}/hub/mailbox/{OCMW_GENT}", timeout=10).json()
    assert batch_id not in [item["itemId"] for item in mailbox["items"]]
    assert (
        httpx.get(f"{network.hub}/hub/batches/{batch_id}/results", headers=who, timeout=10).status_code == 410
    )


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (b"not json at all", "MALFORMED_REQUEST"),
        (json.dumps({**HEADER, "legalContext": None}).encode(), "SCHEMA_VIOLATION"),
        (
            json.dumps({**HEADER, "messageType": {"name": "nope", "version": "1"}}).encode(),
            "UNKNOWN_MESSAGE_TYPE",
        ),
        (
            json.dumps({**HEADER, "customerIdentification": {"cbeNumber": "0000000097"}}).encode(),
            "UNKNOWN_CUSTOMER",
        ),
    ],
    ids=["not json", "schema", "message type", "caller"],
)
def test_a_bad_header_refuses_the_whole_batch(network: RunningNetwork, header: bytes, code: str) -> None:
    refused = submit(network, header + b"\n85073003328\n")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == code
    assert refused.json()["error"]["details"]["reasonCode"]


def test_the_declared_caller_must_be_the_header_institution(network: RunningNetwork) -> None:
    refused = submit(network, batch_file([NOT_INTEGRATED]), **{IDENTITY: OCMW_ANTWERPEN})
    assert refused.status_code == 403


def test_an_async_message_lands_in_the_mailbox(network: RunningNetwork) -> None:
    person = integrated(network)[0]
    accepted = httpx.post(f"{network.hub}/hub/messages:async", json=envelope(ssin=person), timeout=30)
    assert accepted.status_code == 202, accepted.text
    ticket = accepted.json()["ticket"]
    url = f"{network.hub}/hub/mailbox/{OCMW_GENT}/{ticket}"
    deadline = time.monotonic() + 30
    answer = httpx.get(url, timeout=10)
    while answer.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-kruispunt-answer-status"] == "200"
    doc = answer.json()
    assert doc["informationCBSS"]["ticketCBSS"] == ticket
    assert doc["status"]["value"] == "DATA_FOUND"
    assert doc["data"]["persons"][0]["insz"] == person
    listed = httpx.get(f"{network.hub}/hub/mailbox/{OCMW_GENT}", timeout=10).json()["items"]
    assert ticket in [item["itemId"] for item in listed]
    assert httpx.get(f"{network.hub}/hub/mailbox/{OCMW_ANTWERPEN}/{ticket}", timeout=10).status_code == 403
    assert httpx.delete(url, timeout=10).status_code == 204
    assert httpx.get(url, timeout=10).status_code == 410
    # unreadable: answered at once, as POST /hub/messages would
    bad = httpx.post(f"{network.hub}/hub/messages:async", content=b"{", timeout=30)
    assert bad.status_code == 400
    assert bad.json()["fault"][0]["reason"] == "MALFORMED_REQUEST"


def test_the_bulk_route_of_a_register_answers_like_the_single_route(network: RunningNetwork) -> None:
    people = integrated(network)[:3]
    nr = network.urls["national_register"]

    def item(insz: str, message_type: str = "identify_person") -> dict[str, Any]:
        return {
            "ticket": f"t-{insz}",
            "message_type": message_type,
            "version": "1",
            "person": insz,
            "request": {"insz": insz} if message_type == "identify_person" else {},
            "requester": {"institution": OCMW_GENT, "sector": 17, "institution_type": 1},
        }

    items = [item(p) for p in people] + [{**item(people[0]), "version": "9"}, {"ticket": "broken"}]
    bulk = httpx.post(f"{nr}/consult-batch/identify_person", json={"items": items}, timeout=30)
    assert bulk.status_code == 200, bulk.text
    answers = bulk.json()["items"]
    for insz, answer in zip(people, answers, strict=False):
        single = httpx.post(f"{nr}/consult/identify_person", json=item(insz), timeout=30)
        assert answer == single.json()
    assert answers[3]["error"]["status"] == 404
    assert answers[4]["error"]["status"] == 422
    family = httpx.post(
        f"{nr}/consult-batch/family_composition",
        json={"items": [item(people[0], "family_composition")]},
        timeout=30,
    ).json()["items"][0]
    single = httpx.post(
        f"{nr}/consult/family_composition", json=item(people[0], "family_composition"), timeout=30
    )
    assert family == single.json()


def test_cli_submit_waits_and_downloads(network: RunningNetwork, tmp_path: Path) -> None:
    people = integrated(network)
    path = tmp_path / "people.jsonl"
    path.write_bytes(batch_file([people[0], people[1], "oops"]))
    done = subprocess.run(
        [sys.executable, "-m", "kruispunt", "batch", "submit", str(path), "--hub", network.hub, "--wait"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = (tmp_path / "people.results.jsonl").read_text().splitlines()
    errors = (tmp_path / "people.errors.jsonl").read_text().splitlines()
    assert len(results) == 3
    assert [json.loads(e)["line"] for e in errors] == [4]
    batch_id = done.stdout.split()[1].rstrip(":")
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "kruispunt",
            "batch",
            "status",
            batch_id,
            "--hub",
            network.hub,
            "--cbe",
            OCMW_GENT,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "DONE: 3/3 lines" in status.stdout
