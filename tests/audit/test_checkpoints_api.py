"""The log's checkpoint routes: the latest checkpoint, an entry's proof, the consistency of two checkpoints,
and "who consulted my data" answered with proofs — each checked here the way an outsider would, with only
the answer and the public key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from audit_helpers import PERSON, make_record, rewrite_from, varied_record
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from tests.trust.shared_ca import ksz_callers, signed_for

from kruispunt.attest.keys import KeySet, SigningKey, make_kid
from kruispunt.audit.api import make_router
from kruispunt.audit.checkpointer import checkpoint_if_grown
from kruispunt.audit.checkpoints import check_consistency, check_inclusion, create_checkpoint, read_token
from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter

KSZ = "0244640631"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate(kid=make_kid(KSZ, "1"))


@pytest.fixture
def client(audit_engine: Engine, key: SigningKey) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(
        make_router(audit_engine, readers=ksz_callers("the log"), checkpoint_keys=lambda: KeySet.of([key]))
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_no_checkpoint_yet_is_a_clear_404(client: TestClient, chain: list[AuditRecord]) -> None:
    answer = client.get("/audit/checkpoints/latest")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NO_CHECKPOINT"
    answer = client.get(f"/audit/entries/{chain[0].ticket}/proof")
    assert answer.json()["error"]["code"] == "NO_CHECKPOINT"


def test_an_entry_proof_verifies_offline(
    client: TestClient, chain: list[AuditRecord], audit_engine: Engine, key: SigningKey
) -> None:
    create_checkpoint(audit_engine, key)
    latest = client.get("/audit/checkpoints/latest").json()
    assert latest["chains"][0]["size"] == 10
    answer = client.get(f"/audit/entries/{chain[6].ticket}/proof").json()
    checkpoint = read_token(answer["checkpoint"], KeySet.of([key]))
    check_inclusion(answer["proof"], answer["entry_hash"], checkpoint)
    entry = client.get(f"/audit/entries/{chain[6].ticket}").json()
    assert entry["entry_hash"] == answer["entry_hash"]


def test_consistency_between_two_checkpoints(
    client: TestClient, chain: list[AuditRecord], audit_engine: Engine, writer: AuditWriter, key: SigningKey
) -> None:
    create_checkpoint(audit_engine, key)
    for i in range(11, 15):
        writer.append_sync(varied_record(i))
    assert checkpoint_if_grown(audit_engine, key) is not None
    assert checkpoint_if_grown(audit_engine, key) is None  # nothing new: no new checkpoint
    answer = client.get("/audit/checkpoints/1/consistency/2").json()
    keys = KeySet.of([key])
    check_consistency(
        answer, read_token(answer["first_token"], keys), read_token(answer["second_token"], keys)
    )
    assert client.get("/audit/checkpoints/2/consistency/1").status_code == 400
    assert client.get("/audit/checkpoints/1/consistency/9").status_code == 404
    assert client.get("/audit/checkpoints/0").status_code == 422


def test_who_consulted_comes_with_proofs(
    client: TestClient, writer: AuditWriter, audit_engine: Engine, key: SigningKey
) -> None:
    recent = datetime.now(UTC) - timedelta(days=2)
    for hours in (3, 2):
        writer.append_sync(make_record(time=recent + timedelta(hours=hours)))
    create_checkpoint(audit_engine, key)
    writer.append_sync(make_record(time=recent + timedelta(hours=5)))  # after the checkpoint
    body = client.get(f"/audit/persons/{PERSON}/consultations", auth=signed_for(PERSON)).json()
    assert len(body["consultations"]) == 3
    checkpoint = read_token(body["checkpoint"], KeySet.of([key]))
    newest, *older = body["consultations"]
    assert newest["proof"] is None  # not yet in a signed checkpoint
    for line in older:
        check_inclusion(line["proof"], line["entry_hash"], checkpoint)


def test_a_bad_ticket_is_400(client: TestClient) -> None:
    answer = client.get("/audit/entries/../../etc/proof")
    assert answer.status_code in (400, 404)
    answer = client.get("/audit/entries/not-a-ticket/proof")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_TICKET"


def test_a_log_that_no_longer_matches_its_checkpoint_gives_no_proof(
    client: TestClient, chain: list[AuditRecord], audit_engine: Engine, key: SigningKey
) -> None:
    create_checkpoint(audit_engine, key)
    rewrite_from(audit_engine, 2, outcome="TAMPERED")
    answer = client.get(f"/audit/entries/{chain[5].ticket}/proof")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "LOG_INCONSISTENT"
