"""Signed checkpoints of the log, and the proofs that tie an entry or a later checkpoint to them.

Why, on top of the hash chains: a chain shows that entries were not changed *relative to its head*, but
whoever can write the database can rewrite an entry and recompute every later hash and the head. A
checkpoint is signed with the KSZ's key and handed out (to citizens with their "who consulted my data"
answer, to institutions, to an outside witness); once it is out, the log cannot be rewritten below it
without the signed roots disagreeing. This is the transparency-log design of RFC 9162: per chain the
Merkle root of its entries (:mod:`kruispunt.audit.merkle`), an inclusion proof for any entry, a consistency
proof between two checkpoints.

A checkpoint's body (canonical JSON, signed as a compact JWS ES256 with ``typ``
:data:`CHECKPOINT_TYPE`)::

    {"log": "kruispunt-audit", "id": 7, "time": "2026-12-07T16:00:00Z",
     "chains": [{"chain": 0, "size": 1234, "root": "<64 hex>"}, ...]}

The signing key is the KSZ's institution key (``<keys>/<KBO>.pem``, published in ``GET /hub/keys``); the
``typ`` keeps a checkpoint from ever being read as an attestation signed by the same key, and back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy import Connection, Engine, func, insert, select

from kruispunt.attest.keys import ALGORITHM, KeySet, SigningKey
from kruispunt.audit.merkle import (
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from kruispunt.audit.models import audit_checkpoint, audit_entry
from kruispunt.core.canonical import canonical_json

LOG_NAME: Final = "kruispunt-audit"
CHECKPOINT_TYPE: Final = "kruispunt-checkpoint+jwt"
MAX_TOKEN_LENGTH: Final = 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint that is not ours, not well signed, or that the log no longer matches."""


@dataclass(frozen=True)
class ChainState:
    chain: int
    size: int
    root: str


@dataclass(frozen=True)
class Checkpoint:
    id: int
    time: str
    chains: tuple[ChainState, ...]
    token: str

    def state(self, chain: int) -> ChainState:
        """The chain's state at this checkpoint (size 0 for a chain that did not exist yet)."""
        for state in self.chains:
            if state.chain == chain:
                return state
        return ChainState(chain, 0, MerkleTree([]).root().hex())


# -- the leaves -------------------------------------------------------------------------------------------


def chain_leaves(conn: Connection, chain: int, size: int | None = None) -> list[bytes]:
    """The leaf hashes of ``chain`` (its entries' hashes, in seq order), the first ``size`` of them."""
    query = select(audit_entry.c.seq, audit_entry.c.entry_hash).where(audit_entry.c.chain == chain)
    if size is not None:
        query = query.where(audit_entry.c.seq <= size)
    leaves: list[bytes] = []
    for seq, entry_hash in conn.execute(query.order_by(audit_entry.c.seq)):
        if seq != len(leaves) + 1:
            raise CheckpointError(f"chain {chain}: entry {len(leaves) + 1} is missing (next is {seq})")
        leaves.append(leaf_of(entry_hash))
    return leaves


def leaf_of(entry_hash: str) -> bytes:
    """An entry's leaf in the tree: RFC 9162's leaf hash of the 32 bytes of its chain hash."""
    return leaf_hash(bytes.fromhex(entry_hash))


def _chain_sizes(conn: Connection) -> dict[int, int]:
    rows = conn.execute(
        select(audit_entry.c.chain, func.max(audit_entry.c.seq)).group_by(audit_entry.c.chain)
    )
    return {int(chain): int(size) for chain, size in rows}


# -- making and reading checkpoints -----------------------------------------------------------------------


def _sign(body: Mapping[str, Any], key: SigningKey) -> str:
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": CHECKPOINT_TYPE}
    return jws.serialize_compact(header, canonical_json(dict(body)), key.key, algorithms=[ALGORITHM])


def create_checkpoint(engine: Engine, key: SigningKey, *, now: datetime | None = None) -> Checkpoint:
    """Sign the log's current state (every chain's size and root) and store it; the new checkpoint."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    with engine.begin() as conn:
        sizes = _chain_sizes(conn)
        chains = [
            {"chain": chain, "size": size, "root": MerkleTree(chain_leaves(conn, chain, size)).root().hex()}
            for chain, size in sorted(sizes.items())
        ]
        last = conn.execute(select(func.max(audit_checkpoint.c.id))).scalar()
        number = int(last or 0) + 1
        body = {
            "log": LOG_NAME,
            "id": number,
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "chains": chains,
        }
        token = _sign(body, key)
        conn.execute(
            insert(audit_checkpoint).values(
                id=number, created_at=moment, body=canonical_json(body).decode(), token=token
            )
        )
    return read_token(token, KeySet.of([key]))


def read_token(token: str, keys: KeySet) -> Checkpoint:
    """The checkpoint a token signs, after checking its signature, type and form."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise CheckpointError("not a checkpoint: a compact JWS is expected")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise CheckpointError("not a checkpoint: the JWS cannot be read") from exc
    if header.get("alg") != ALGORITHM or header.get("typ") != CHECKPOINT_TYPE:
        raise CheckpointError(f"not a checkpoint: alg must be {ALGORITHM} and typ {CHECKPOINT_TYPE}")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise CheckpointError(f"the checkpoint is signed with key {str(kid)[:80]!r}, not a network key")
    try:
        payload = jws.deserialize_compact(token, keys[kid], algorithms=[ALGORITHM]).payload
    except JoseError as exc:
        raise CheckpointError("the checkpoint's signature does not verify") from exc
    try:
        body = orjson.loads(payload)
        chains = tuple(ChainState(int(c["chain"]), int(c["size"]), str(c["root"])) for c in body["chains"])
        checkpoint = Checkpoint(int(body["id"]), str(body["time"]), chains, token)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError("the checkpoint's body is not a checkpoint") from exc
    if body.get("log") != LOG_NAME or canonical_json(body) != payload:
        raise CheckpointError("the checkpoint is not of this log or not in canonical form")
    return checkpoint


def stored_checkpoints(conn: Connection, keys: KeySet) -> list[Checkpoint]:
    """Every stored checkpoint, oldest first, each signature checked."""
    rows = conn.execute(select(audit_checkpoint.c.token).order_by(audit_checkpoint.c.id))
    return [read_token(token, keys) for (token,) in rows]


def checkpoint_by_id(conn: Connection, checkpoint_id: int, keys: KeySet) -> Checkpoint | None:
    token = conn.execute(
        select(audit_checkpoint.c.token).where(audit_checkpoint.c.id == checkpoint_id)
    ).scalar()
    return read_token(token, keys) if token is not None else None


def checkpoint_view(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint as JSON: what it says and the signed token that says it."""
    return {
        "id": checkpoint.id,
        "time": checkpoint.time,
        "chains": [{"chain": s.chain, "size": s.size, "root": s.root} for s in checkpoint.chains],
        "token": checkpoint.token,
    }


def latest_checkpoint(conn: Connection, keys: KeySet) -> Checkpoint | None:
    token = conn.execute(
        select(audit_checkpoint.c.token).order_by(audit_checkpoint.c.id.desc()).limit(1)
    ).scalar()
    return read_token(token, keys) if token is not None else None


# -- proofs -----------------------------------------------------------------------------------------------


class _Trees:
    """The trees of the last few checkpointed chain states, so that a citizen's "who consulted my data"
    does not reread a whole chain per request. Keyed by (chain, size, signed root): a tree is only ever
    reused for the very state it was built for, whichever database it came from."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._trees: OrderedDict[tuple[int, int, str], MerkleTree] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn: Connection, state: ChainState) -> MerkleTree:
        key = (state.chain, state.size, state.root)
        with self._lock:
            tree = self._trees.get(key)
            if tree is not None:
                self._trees.move_to_end(key)
                return tree
        tree = MerkleTree(chain_leaves(conn, state.chain, state.size))
        if tree.root().hex() != state.root:
            raise CheckpointError(
                f"chain {state.chain}'s first {state.size} entries no longer give the signed root"
            )
        with self._lock:
            self._trees[key] = tree
            while len(self._trees) > self.size:
                self._trees.popitem(last=False)
        return tree


_TREES = _Trees()


def inclusion_proof(conn: Connection, checkpoint: Checkpoint, chain: int, seq: int) -> dict[str, Any]:
    """The proof that entry (``chain``, ``seq``) is in ``checkpoint``; :class:`ProofError` if it is newer."""
    proof = proofs_for(conn, checkpoint, [(chain, seq)])[0]
    if proof is None:
        raise ProofError(f"entry {chain}/{seq} is not covered by checkpoint {checkpoint.id}")
    return proof


def check_inclusion(proof: Mapping[str, Any], entry_hash: str, checkpoint: Checkpoint) -> None:
    """Offline: raise :class:`ProofError` unless ``proof`` puts the entry with ``entry_hash`` under the
    signed root of its chain in ``checkpoint``."""
    state = checkpoint.state(int(proof["chain"]))
    if int(proof["size"]) != state.size:
        raise ProofError(f"the proof is for size {proof['size']}, the checkpoint says {state.size}")
    path = [bytes.fromhex(h) for h in proof["path"]]
    verify_inclusion(int(proof["index"]), state.size, leaf_of(entry_hash), path, bytes.fromhex(state.root))


def consistency_proof(conn: Connection, first: Checkpoint, second: Checkpoint) -> dict[str, Any]:
    """Per chain, the proof that ``second`` only appended to ``first``."""
    chains = []
    for state in second.chains:
        before = first.state(state.chain)
        if before.size == 0 or before.size > state.size:
            path: list[str] = []
        else:
            tree = MerkleTree(chain_leaves(conn, state.chain, state.size))
            path = [h.hex() for h in tree.consistency_proof(before.size, state.size)]
        chains.append({"chain": state.chain, "first": before.size, "second": state.size, "path": path})
    return {"first": first.id, "second": second.id, "chains": chains}


def check_consistency(proof: Mapping[str, Any], first: Checkpoint, second: Checkpoint) -> None:
    """Offline: raise :class:`ProofError` unless every chain of ``first`` is a prefix of it in ``second``."""
    given = {int(c["chain"]): c for c in proof["chains"]}
    for before in first.chains:
        after = second.state(before.chain)
        entry = given.get(before.chain)
        if entry is None:
            raise ProofError(f"chain {before.chain} is in checkpoint {first.id} but not in the proof")
        path = [bytes.fromhex(h) for h in entry["path"]]
        verify_consistency(
            before.size, after.size, bytes.fromhex(before.root), bytes.fromhex(after.root), path
        )


# -- verifying the log against its checkpoints ------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointReport:
    ok: bool
    checkpoints: int
    problems: tuple[str, ...]


def verify_log(engine: Engine, keys: KeySet) -> CheckpointReport:
    """Every checkpoint's signature; every chain's entries still giving the signed roots; each checkpoint
    consistent with the one before. An entry altered after a checkpoint — even with every later chain hash
    recomputed — changes a root and is reported."""
    problems: list[str] = []
    with engine.connect() as conn:
        try:
            checkpoints = stored_checkpoints(conn, keys)
        except CheckpointError as exc:
            return CheckpointReport(False, 0, (str(exc),))
        trees: dict[int, MerkleTree] = {}
        for chain in sorted({s.chain for c in checkpoints for s in c.chains}):
            try:
                trees[chain] = MerkleTree(chain_leaves(conn, chain))
            except CheckpointError as exc:
                problems.append(str(exc))
    previous: Checkpoint | None = None
    for checkpoint in checkpoints:
        for state in checkpoint.chains:
            tree = trees.get(state.chain)
            if tree is None:
                continue
            if state.size > len(tree):
                problems.append(
                    f"checkpoint {checkpoint.id}: chain {state.chain} had {state.size} entries, "
                    f"the log has {len(tree)}"
                )
            elif tree.root(state.size).hex() != state.root:
                problems.append(
                    f"checkpoint {checkpoint.id}: chain {state.chain}'s first {state.size} entries no longer "
                    "give the signed root: an entry was changed"
                )
        if previous is not None:
            for before in previous.chains:
                if checkpoint.state(before.chain).size < before.size:
                    problems.append(
                        f"checkpoint {checkpoint.id}: chain {before.chain} shrank since "
                        f"checkpoint {previous.id}"
                    )
        previous = checkpoint
    return CheckpointReport(not problems, len(checkpoints), tuple(problems))


def entry_position(conn: Connection, ticket: str) -> tuple[int, int, str] | None:
    """``(chain, seq, entry_hash)`` of the entry with ``ticket``."""
    row = conn.execute(
        select(audit_entry.c.chain, audit_entry.c.seq, audit_entry.c.entry_hash).where(
            audit_entry.c.ticket == ticket
        )
    ).first()
    return (int(row[0]), int(row[1]), str(row[2])) if row is not None else None


def proofs_for(
    conn: Connection, checkpoint: Checkpoint, positions: Sequence[tuple[int, int]]
) -> list[dict[str, Any] | None]:
    """Inclusion proofs of several entries against one checkpoint (``None`` for an entry newer than it);
    each chain's tree is built once and kept for the next requests (see :class:`_Trees`)."""
    proofs: list[dict[str, Any] | None] = []
    for chain, seq in positions:
        state = checkpoint.state(chain)
        if not 1 <= seq <= state.size:
            proofs.append(None)
            continue
        tree = _TREES.get(conn, state)
        proofs.append(
            {
                "checkpoint": checkpoint.id,
                "chain": chain,
                "index": seq - 1,
                "size": state.size,
                "path": [h.hex() for h in tree.inclusion_proof(seq - 1, state.size)],
            }
        )
    return proofs
