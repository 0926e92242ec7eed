"""The Merkle tree of a log chain, as RFC 9162 (Certificate Transparency 2.0) §2.1 defines it.

Why this exact tree: a checkpoint that signs one root over every entry of a chain lets anyone check, with
a few hashes, that an entry is in the signed log (inclusion proof) and that a later checkpoint only added
entries to an earlier one (consistency proof) — without trusting the operator or reading the whole log.
Using the RFC's tree, hashing (``0x00`` leaf, ``0x01`` node prefixes, SHA-256) and proof algorithms, word
for word, means a third-party transparency-log verifier can check our proofs too; the tests compare every
root and proof with an independent implementation (pymerkle).

A leaf's data is the 32 bytes of the entry's chain hash (``audit_entry.entry_hash``), which already commits
to every field of the entry and to its predecessor.

The tree works on a list of leaf hashes in memory (32 bytes per entry: 32 MB per million entries); the
roots of its larger subtrees are kept, so the first root or proof costs O(n) hashes and the next ones
O(log n) plus at most 64 leaves' worth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
CACHED_SUBTREE = 64


class ProofError(ValueError):
    """A proof that does not verify, or a request for a proof that cannot exist (index out of range …)."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """The tree over ``leaves`` (leaf hashes, in log order), with its roots and proofs."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        for i, leaf in enumerate(leaves):
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"leaf {i} is {len(leaf)} bytes, not a {HASH_SIZE}-byte hash")
        self.leaves = leaves
        self._cache: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self.leaves)

    def _subtree(self, start: int, end: int) -> bytes:
        """``MTH(D[start:end])``; subtrees of 64 leaves or more are kept (2 × n / 64 hashes at most)."""
        n = end - start
        if n == 1:
            return self.leaves[start]
        cached = self._cache.get((start, end)) if n >= CACHED_SUBTREE else None
        if cached is not None:
            return cached
        k = _split(n)
        value = node_hash(self._subtree(start, start + k), self._subtree(start + k, end))
        if n >= CACHED_SUBTREE:
            self._cache[(start, end)] = value
        return value

    def root(self, size: int | None = None) -> bytes:
        """``MTH(D[0:size])`` (the whole tree by default); the hash of the empty string for size 0."""
        size = len(self.leaves) if size is None else size
        if not 0 <= size <= len(self.leaves):
            raise ProofError(f"tree size {size} is not between 0 and {len(self.leaves)}")
        if size == 0:
            return hashlib.sha256(b"").digest()
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """``PATH(index, D[0:size])``: the hashes that take leaf ``index`` to the root of size ``size``."""
        size = len(self.leaves) if size is None else size
        if not 0 <= index < size <= len(self.leaves):
            raise ProofError(f"no inclusion proof for leaf {index} in a tree of {size}")
        proof: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index - start < k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """``PROOF(first, D[0:second])``: that the tree of ``second`` extends the tree of ``first``."""
        second = len(self.leaves) if second is None else second
        if not 0 < first <= second <= len(self.leaves):
            raise ProofError(f"no consistency proof from size {first} to size {second}")
        proof: list[bytes] = []
        start, end, m, whole = 0, second, first, True
        while True:
            n = end - start
            if m == n:
                if not whole:
                    proof.append(self._subtree(start, end))
                break
            k = _split(n)
            if m <= k:
                proof.append(self._subtree(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree(start, start + k))
                start += k
                m -= k
                whole = False
        proof.reverse()
        return proof


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` in a tree of ``size`` (RFC 9162
    §2.1.3.2); :class:`ProofError` when the proof has the wrong length for that position."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows ``leaf`` at ``index`` under ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"leaf {index} is not in the tree of size {size} with that root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows that the tree of ``second`` (``second_root``)
    extends the tree of ``first`` (``first_root``) (RFC 9162 §2.1.4.2)."""
    if not 0 <= first <= second:
        raise ProofError(f"size {first} cannot be consistent with the smaller size {second}")
    if first == second:
        if proof or first_root != second_root:
            raise ProofError("two checkpoints of one size must have the same root and an empty proof")
        return
    if first == 0:
        if proof:
            raise ProofError("the empty tree is consistent with every tree by an empty proof")
        return
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a subtree of the proof
        path.insert(0, first_root)
    if not path:
        raise ProofError("the consistency proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the trees need")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise ProofError(f"the tree of size {second} does not extend the tree of size {first}")
