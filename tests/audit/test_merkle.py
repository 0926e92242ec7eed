"""The log's Merkle tree against RFC 9162: roots and inclusion paths agree with pymerkle (an independent
implementation), consistency proofs with the RFC's recursive definition, and every proof verifies while
any altered hash, index or size is refused."""

from __future__ import annotations

import hashlib
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from kruispunt.audit.merkle import (
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

SIZES = range(1, 41)


def _data(i: int) -> bytes:
    return hashlib.sha256(f"entry {i}".encode()).digest()


def _tree(n: int) -> MerkleTree:
    return MerkleTree([leaf_hash(_data(i)) for i in range(n)])


def _mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF from RFC 9162 §2.1.4.1, recursively."""
    n = len(leaves)
    if m == n:
        return [] if whole else [_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


@pytest.fixture(scope="module")
def reference() -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")
    for i in range(max(SIZES)):
        tree.append_entry(_data(i))
    return tree


def test_roots_agree_with_pymerkle_and_the_rfc(reference: InmemoryTree) -> None:
    tree = _tree(max(SIZES))
    for n in SIZES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            theirs = reference.get_state(n)
        assert tree.root(n) == theirs == _mth(list(tree.leaves[:n]))
    assert tree.root(0) == hashlib.sha256(b"").digest()


def test_inclusion_paths_agree_with_pymerkle_and_verify(reference: InmemoryTree) -> None:
    tree = _tree(max(SIZES))
    for n in SIZES:
        for index in range(n):
            proof = tree.inclusion_proof(index, n)
            theirs = reference.prove_inclusion(index + 1, n).serialize()["path"]
            assert [h.hex() for h in proof] == theirs[1:]  # pymerkle's path starts with the leaf itself
            verify_inclusion(index, n, tree.leaves[index], proof, tree.root(n))


def test_consistency_proofs_follow_the_rfc_and_verify() -> None:
    tree = _tree(max(SIZES))
    for second in SIZES:
        for first in range(1, second + 1):
            proof = tree.consistency_proof(first, second)
            assert proof == _subproof(first, list(tree.leaves[:second]), True)
            verify_consistency(first, second, tree.root(first), tree.root(second), proof)


def test_an_altered_leaf_or_proof_hash_is_refused() -> None:
    tree = _tree(13)
    root = tree.root()
    proof = tree.inclusion_proof(5)
    with pytest.raises(ProofError):
        verify_inclusion(5, 13, leaf_hash(b"another entry"), proof, root)
    for i in range(len(proof)):
        forged = list(proof)
        forged[i] = bytes([forged[i][0] ^ 1]) + forged[i][1:]
        with pytest.raises(ProofError):
            verify_inclusion(5, 13, tree.leaves[5], forged, root)
    with pytest.raises(ProofError):  # the right leaf at the wrong place
        verify_inclusion(6, 13, tree.leaves[5], proof, root)
    with pytest.raises(ProofError):  # a proof too short or too long
        root_from_inclusion_proof(5, 13, tree.leaves[5], proof[:-1])
    with pytest.raises(ProofError):
        root_from_inclusion_proof(5, 13, tree.leaves[5], [*proof, proof[0]])


def test_a_rewritten_history_is_not_consistent() -> None:
    tree = _tree(20)
    rewritten = MerkleTree([*tree.leaves[:6], leaf_hash(b"rewritten"), *tree.leaves[7:]])
    proof = rewritten.consistency_proof(10, 20)
    with pytest.raises(ProofError):
        verify_consistency(10, 20, tree.root(10), rewritten.root(20), proof)
    with pytest.raises(ProofError):  # nor with the honest proof against the rewritten root
        verify_consistency(10, 20, tree.root(10), rewritten.root(20), tree.consistency_proof(10, 20))
    with pytest.raises(ProofError):  # a larger tree is never "consistent" with a smaller one
        verify_consistency(20, 10, tree.root(20), tree.root(10), [])
    with pytest.raises(ProofError):  # the same size with two roots: a fork
        verify_consistency(20, 20, tree.root(20), rewritten.root(20), [])


def test_requests_for_impossible_proofs_are_refused() -> None:
    tree = _tree(4)
    for index, size in ((4, 4), (-1, 4), (0, 5), (0, 0)):
        with pytest.raises(ProofError):
            tree.inclusion_proof(index, size)
    for first, second in ((0, 4), (3, 2), (1, 5)):
        with pytest.raises(ProofError):
            tree.consistency_proof(first, second)
    with pytest.raises(ValueError, match="32-byte"):
        MerkleTree([b"short"])


@given(
    st.integers(min_value=1, max_value=300),
    st.data(),
)
def test_any_tree_proves_any_leaf_and_any_prefix(n: int, data: st.DataObject) -> None:
    tree = _tree(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    first = data.draw(st.integers(min_value=1, max_value=n))
    verify_inclusion(index, n, tree.leaves[index], tree.inclusion_proof(index), tree.root())
    verify_consistency(first, n, tree.root(first), tree.root(), tree.consistency_proof(first))
