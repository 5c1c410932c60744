"""Merkle proofs and signed checkpoints of a register, from the stored subtrees.

Each proof plans the perfect subtrees it needs (:func:`registers.merkle.plan`), reads
them in one query (O(log n) rows) and assembles the RFC 9162 answer. Sizes are
checked as openregister-java does: ``1 <= entry <= size <= total`` for an inclusion
proof and ``1 <= first <= second <= total`` for a consistency proof (400 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from registers import merkle, repository
from registers.errors import bad_request, not_found
from registers.service import schema as schemas


async def _compute(session: AsyncSession, register_id: int, compute):
    positions = merkle.plan(compute)
    nodes = await repository.get_nodes(session, register_id, positions)
    return compute(lambda level, index: nodes[(level, index)])


@dataclass(frozen=True)
class TreeProof:
    """A root, or a proof: ``nodes`` in RFC 9162 order, ``size`` the tree size."""

    size: int
    root: bytes
    nodes: list[bytes]


def _in_range(value: int) -> bool:
    return 0 < value < 1 << 62


async def root(session: AsyncSession, name: str) -> TreeProof:
    """The current root hash over the register's user entries."""
    reg = await schemas.get_register_or_404(session, name)
    value = await _compute(session, reg.id, lambda get: merkle.root_hash(get, reg.tree_size))
    return TreeProof(reg.tree_size, value, [])


async def _proof(session: AsyncSession, name: str, low: int, size: int | None, kind: str, make):
    """``make(get, size)`` over the stored subtrees, once ``1 <= low <= size <= total``."""
    reg = await schemas.get_register_or_404(session, name)
    size = reg.tree_size if size is None else size
    if not (_in_range(low) and low <= size <= reg.tree_size):
        raise bad_request(f"{kind} <= {reg.tree_size} (the total entries)")

    def compute(get):
        return make(get, size), merkle.root_hash(get, size)

    nodes, value = await _compute(session, reg.id, compute)
    return TreeProof(size, value, nodes)


async def inclusion(
    session: AsyncSession, name: str, entry_number: int, size: int | None
) -> TreeProof:
    """The audit path of entry ``entry_number`` in the tree of ``size`` entries
    (``None``: the current size); ``root`` is the root at ``size``.

    Raises:
        RegisterError: 400 unless ``1 <= entry_number <= size <= total entries``.
    """
    return await _proof(
        session,
        name,
        entry_number,
        size,
        "an inclusion proof needs 1 <= entry-number <= tree size",
        lambda get, n: merkle.inclusion_path(get, entry_number - 1, n),
    )


async def consistency(
    session: AsyncSession, name: str, first: int, second: int | None
) -> TreeProof:
    """The consistency proof from size ``first`` to ``second`` (``None``: the current size);
    ``root`` is the root at ``second``.

    Raises:
        RegisterError: 400 unless ``1 <= first <= second <= total entries``.
    """
    return await _proof(
        session,
        name,
        first,
        second,
        "a consistency proof needs 1 <= first size <= second size",
        lambda get, n: merkle.consistency_proof(get, first, n),
    )


async def checkpoint(session: AsyncSession, name: str, size: int = 0) -> str:
    """The signed checkpoint (a signed note) of the latest tree head, or of ``size``.

    Raises:
        RegisterError: 404 when the register has no tree head (of that size).
    """
    reg = await schemas.get_register_or_404(session, name)
    if size:
        head = await repository.tree_head_at(session, reg.id, size) if _in_range(size) else None
    else:
        head = await repository.latest_tree_head(session, reg.id)
    if head is None:
        raise not_found(f"the {name} register has no checkpoint of that size", "NO_CHECKPOINT")
    return head.note
