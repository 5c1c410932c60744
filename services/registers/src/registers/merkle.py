"""Merkle tree hashing and proofs (RFC 9162 section 2.1), over stored perfect subtrees.

Pure code, no database: the tree is seen through *perfect aligned subtrees*, the
node at ``(level, index)`` being ``MTH(D[index * 2**level : (index + 1) * 2**level])``
(level 0 holds the leaf hashes). Complete aligned subtrees never change in an
append-only log, so they are stored once (:mod:`registers.repository`) and every
root, inclusion proof and consistency proof at any size is assembled from
O(log n) of them:

- :func:`plan` runs a computation against a recorder to learn which nodes it needs
  (the control flow of the RFC algorithms depends on sizes, never on hash values),
  so that the repository fetches them in one query; then the same computation runs
  against the fetched nodes.
- :class:`CompactRange` is the right edge of a tree (one perfect subtree per set
  bit of the size): appending a leaf merges equal-sized neighbours, each merge
  being one new stored node, so an append writes O(log n) hashes, 2 on average.

Hashes: SHA-256, leaf ``H(0x00 || data)``, node ``H(0x01 || left || right)``, the
empty tree ``H("")`` (RFC 9162 2.1.1). Indices are 0-based leaf indices; a
register's entry number is the leaf index + 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()
LEVEL_SHIFT = 48

NodeGetter = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)`` (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def node_id(level: int, index: int) -> int:
    """One integer naming the perfect subtree ``(level, index)`` (the stored key)."""
    return (level << LEVEL_SHIFT) | index


def split_point(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_perfect(start: int, size: int) -> bool:
    return size & (size - 1) == 0 and start % size == 0


def subtree_hash(get: NodeGetter, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` for ``0 <= start < end``, from perfect subtrees.

    A perfect aligned range is one node; any other range the RFC algorithms ask for
    is split at the largest power of two, its left part always perfect, so the
    whole costs at most one node per level.
    """
    size = end - start
    if _is_perfect(start, size):
        return get(size.bit_length() - 1, start // size)
    k = split_point(size)
    return node_hash(subtree_hash(get, start, start + k), subtree_hash(get, start + k, end))


def root_hash(get: NodeGetter, size: int) -> bytes:
    """``MTH(D[0:size])``; the empty tree's hash for size 0."""
    return EMPTY_ROOT if size == 0 else subtree_hash(get, 0, size)


def inclusion_path(get: NodeGetter, index: int, size: int) -> list[bytes]:
    """``PATH(index, D[0:size])`` (RFC 9162 2.1.3.1), bottom-up (the leaf's sibling first).

    Raises:
        ValueError: unless ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise ValueError("index out of range")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree_hash(get, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(get, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(get: NodeGetter, first: int, second: int) -> list[bytes]:
    """``PROOF(first, D[0:second])`` (RFC 9162 2.1.4.1); empty when the sizes are equal.

    Raises:
        ValueError: unless ``0 < first <= second``.
    """
    if not 0 < first <= second:
        raise ValueError("sizes out of range")
    proof: list[bytes] = []
    # SUBPROOF(m, D[start:end], b), iteratively: the nodes are found top-down and
    # the RFC lists them bottom-up, hence the reverse at the end.
    m, start, end, complete = first, 0, second, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(subtree_hash(get, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(get, start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        proof.append(subtree_hash(get, start, end))
    proof.reverse()
    return proof


def plan(compute: Callable[[NodeGetter], object]) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` that ``compute(get)`` reads, in order.

    ``compute`` runs once against placeholder hashes: the RFC algorithms branch on
    sizes only, so the same nodes are read when it runs again on real ones.
    """
    wanted: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        if (level, index) not in seen:
            seen.add((level, index))
            wanted.append((level, index))
        return b"\x00" * 32

    compute(record)
    return wanted


class CompactRange:
    """The right edge of a tree of ``size`` leaves: one perfect subtree per set bit.

    Attributes:
        size: number of leaves.
        nodes: ``(level, index, hash)`` of the edge's subtrees, largest (leftmost) first
            (changed only by :meth:`append`).
    """

    def __init__(self, size: int, nodes: list[tuple[int, int, bytes]]) -> None:
        self.size = size
        self.nodes = nodes
        # 0x01 || hash of each edge node: the left half of a node hash's input, ready.
        self._lefts = [b"\x01" + digest for _, _, digest in nodes]

    @staticmethod
    def positions(size: int) -> list[tuple[int, int]]:
        """``(level, index)`` of the edge subtrees of a tree of ``size`` leaves."""
        found = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                found.append((level, start >> level))
                start += 1 << level
        return found

    @classmethod
    def load(cls, size: int, get: NodeGetter) -> CompactRange:
        """The edge of a stored tree of ``size`` leaves."""
        return cls(size, [(lv, ix, get(lv, ix)) for lv, ix in cls.positions(size)])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the new perfect subtrees to store (the leaf first)."""
        index = self.size
        created = [(0, index, leaf)]
        level, current = 0, leaf
        nodes, lefts = self.nodes, self._lefts
        sha256 = hashlib.sha256
        while nodes and nodes[-1][0] == level:
            left_index = nodes.pop()[1]
            current = sha256(lefts.pop() + current).digest()  # node_hash(left, current)
            level += 1
            created.append((level, left_index >> 1, current))
        nodes.append((level, index >> level, current))
        lefts.append(b"\x01" + current)
        self.size += 1
        return created

    def extend(self, leaves: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append several leaf hashes; returns every new perfect subtree."""
        created: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            created.extend(self.append(leaf))
        return created

    def root(self) -> bytes:
        """``MTH`` of the whole tree (RFC 9162 2.1.1): the edge folded from the right."""
        if not self.nodes:
            return EMPTY_ROOT
        current = self.nodes[-1][2]
        sha256 = hashlib.sha256
        for left in reversed(self._lefts[:-1]):
            current = sha256(left + current).digest()  # node_hash(left, current)
        return current
