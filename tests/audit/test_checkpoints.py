"""Signed checkpoints of the log: a rewrite that the hash chains cannot see (an entry altered and every
later hash and the head recomputed) is caught by the signed roots; inclusion and consistency proofs verify
offline and fail when one byte changes; a checkpoint signed by another key or of another type is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from audit_helpers import rewrite_from, varied_record
from sqlalchemy import Engine

from kruispunt.attest.keys import KeySet, SigningKey, make_kid
from kruispunt.audit.checkpoints import (
    CheckpointError,
    check_consistency,
    check_inclusion,
    consistency_proof,
    create_checkpoint,
    entry_position,
    inclusion_proof,
    latest_checkpoint,
    proofs_for,
    read_token,
    verify_log,
)
from kruispunt.audit.merkle import ProofError
from kruispunt.audit.models import audit_entry
from kruispunt.audit.schemas import AuditRecord
from kruispunt.audit.service import AuditWriter, verify

KSZ = "0244640631"
NOW = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate(kid=make_kid(KSZ, "1"))


def _keys(key: SigningKey) -> KeySet:
    return KeySet.of([key])


def test_a_checkpoint_signs_every_chain_and_verifies(
    chain: list[AuditRecord], audit_engine: Engine, key: SigningKey
) -> None:
    checkpoint = create_checkpoint(audit_engine, key, now=NOW)
    assert (checkpoint.id, checkpoint.time) == (1, "2026-12-07T16:00:00Z")
    assert [(s.chain, s.size) for s in checkpoint.chains] == [(0, 10)]
    report = verify_log(audit_engine, _keys(key))
    assert (report.ok, report.checkpoints, report.problems) == (True, 1, ())
    with audit_engine.connect() as conn:
        assert latest_checkpoint(conn, _keys(key)) == checkpoint


def test_a_rewrite_the_chains_cannot_see_is_caught_by_the_checkpoint(
    chain: list[AuditRecord], audit_engine: Engine, key: SigningKey
) -> None:
    create_checkpoint(audit_engine, key, now=NOW)
    rewrite_from(audit_engine, 5, outcome="TAMPERED")
    assert verify(audit_engine).ok  # the hash chains and the head are consistent again
    report = verify_log(audit_engine, _keys(key))
    assert not report.ok
    assert report.problems == (
        "checkpoint 1: chain 0's first 10 entries no longer give the signed root: an entry was changed",
    )


def test_a_deleted_tail_is_caught(chain: list[AuditRecord], audit_engine: Engine, key: SigningKey) -> None:
    create_checkpoint(audit_engine, key, now=NOW)
    with audit_engine.begin() as conn:
        conn.execute(audit_entry.delete().where(audit_entry.c.seq > 8))
    report = verify_log(audit_engine, _keys(key))
    assert report.problems == ("checkpoint 1: chain 0 had 10 entries, the log has 8",)


def test_an_entry_is_proven_in_the_signed_log_offline(
    chain: list[AuditRecord], audit_engine: Engine, key: SigningKey
) -> None:
    checkpoint = create_checkpoint(audit_engine, key, now=NOW)
    with audit_engine.connect() as conn:
        position = entry_position(conn, chain[3].ticket)
        assert position is not None
        chain_no, seq, hash_hex = position
        proof = inclusion_proof(conn, checkpoint, chain_no, seq)
    # offline: only the token, the public key, the entry's hash and the proof
    received = read_token(checkpoint.token, _keys(key))
    check_inclusion(proof, hash_hex, received)
    with pytest.raises(ProofError):
        check_inclusion(proof, "0" * 64, received)
    forged = {**proof, "path": [("f" if h[0] != "f" else "e") + h[1:] for h in proof["path"]]}
    with pytest.raises(ProofError):
        check_inclusion(forged, hash_hex, received)


def test_entries_newer_than_the_checkpoint_have_no_proof_yet(
    chain: list[AuditRecord], audit_engine: Engine, writer: AuditWriter, key: SigningKey
) -> None:
    checkpoint = create_checkpoint(audit_engine, key, now=NOW)
    writer.append_sync(varied_record(11))
    with audit_engine.connect() as conn:
        proofs = proofs_for(conn, checkpoint, [(0, 10), (0, 11)])
        assert proofs[0] is not None
        assert proofs[1] is None
        with pytest.raises(ProofError):
            inclusion_proof(conn, checkpoint, 0, 11)


def test_a_later_checkpoint_is_proven_to_extend_an_earlier_one(
    chain: list[AuditRecord], audit_engine: Engine, writer: AuditWriter, key: SigningKey
) -> None:
    first = create_checkpoint(audit_engine, key, now=NOW)
    for i in range(11, 18):
        writer.append_sync(varied_record(i))
    second = create_checkpoint(audit_engine, key, now=NOW)
    assert second.id == 2
    assert second.state(0).size == 17
    with audit_engine.connect() as conn:
        proof = consistency_proof(conn, first, second)
    check_consistency(proof, first, second)
    assert verify_log(audit_engine, _keys(key)).ok
    # a rewrite below the first checkpoint, then a new checkpoint over the rewritten log
    rewrite_from(audit_engine, 3, outcome="TAMPERED")
    third = create_checkpoint(audit_engine, key, now=NOW)
    with audit_engine.connect() as conn:
        proof = consistency_proof(conn, first, third)
    with pytest.raises(ProofError):
        check_consistency(proof, first, third)
    assert not verify_log(audit_engine, _keys(key)).ok


def test_a_checkpoint_of_another_key_or_type_or_altered_is_refused(
    chain: list[AuditRecord], audit_engine: Engine, key: SigningKey
) -> None:
    checkpoint = create_checkpoint(audit_engine, key, now=NOW)
    other = SigningKey.generate(kid=make_kid(KSZ, "1"))
    with pytest.raises(CheckpointError, match="signature"):
        read_token(checkpoint.token, KeySet.of([other]))
    with pytest.raises(CheckpointError, match="not a network key"):
        read_token(checkpoint.token, KeySet.of([SigningKey.generate(kid=make_kid(KSZ, "2"))]))
    head, payload, signature = checkpoint.token.split(".")
    body = base64.urlsafe_b64decode(payload + "==").replace(b'"size":10', b'"size":11')
    altered = ".".join([head, base64.urlsafe_b64encode(body).rstrip(b"=").decode(), signature])
    with pytest.raises(CheckpointError):
        read_token(altered, _keys(key))
    for garbage in ("", "a.b", "x" * 10, "a.b.c"):
        with pytest.raises(CheckpointError):
            read_token(garbage, _keys(key))
