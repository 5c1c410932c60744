"""The tree is stored so that an append writes O(log n) hashes and a proof reads
O(log n) of them, in a constant number of queries, at any size."""

from __future__ import annotations

import math
import re

from sqlalchemy import event, func, select

from registers import merkle
from registers.datatypes import FieldDefinition
from registers.models import register, tree_node
from registers.service import appending, proofs


class StatementCounter:
    """Counts the statements run on an engine."""

    def __init__(self, engine) -> None:
        self.engine = engine.sync_engine
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def node_reads(self) -> int:
        return sum(1 for s in self.statements if re.search(r"FROM tree_node", s))


async def stored_nodes(registers, name: str) -> int:
    async with registers.context.db.read() as session:
        query = (
            select(func.count())
            .select_from(tree_node)
            .join(register, register.c.id == tree_node.c.register_id)
            .where(register.c.name == name)
        )
        return await session.scalar(query)


async def test_each_append_stores_at_most_log_n_new_hashes_and_two_on_average(registers):
    await registers.define("log", [FieldDefinition("log", "string")])
    counts = []
    before = await stored_nodes(registers, "log")
    for i in range(1, 130):
        await appending.append_entries(
            registers.context, "log", [appending.NewEntry(f"k{i}", [{"log": f"k{i}"}])]
        )
        after = await stored_nodes(registers, "log")
        counts.append(after - before)
        before = after
    for size, written in enumerate(counts, start=1):
        assert 1 <= written <= math.floor(math.log2(size)) + 1
    assert sum(counts) == 2 * len(counts) - bin(len(counts)).count("1")
    assert counts[127] == 8  # the 128th leaf completes a subtree of every height


async def proof_cost(registers, name: str, size: int) -> tuple[int, int]:
    """(statements reading tree_node, statements in all) for a few proofs at ``size``."""
    db = registers.context.db
    with StatementCounter(db.engine) as counter:
        async with db.read() as session:
            await proofs.inclusion(session, name, 1, size)
            await proofs.inclusion(session, name, size, size)
            await proofs.consistency(session, name, size // 2 + 1, size)
    return counter.node_reads(), len(counter.statements)


async def test_a_proof_reads_the_tree_once_whatever_the_size(registers):
    await registers.define("big", [FieldDefinition("big", "string")])
    entries = [appending.NewEntry(f"k{i}", [{"big": f"k{i}"}]) for i in range(6000)]
    await appending.append_entries(registers.context, "big", entries)
    small = await proof_cost(registers, "big", 60)
    large = await proof_cost(registers, "big", 5999)
    assert small[0] == large[0] == 3  # one query of tree_node per proof
    assert small[1] == large[1]
    for size in (60, 4096, 5999):
        bound = 2 * math.ceil(math.log2(size)) + 1
        for first in (1, size // 3, size):
            read = merkle.plan(lambda get, f=first, n=size: merkle.inclusion_path(get, f - 1, n))
            assert len(read) <= bound
            read = merkle.plan(lambda get, f=first, n=size: merkle.consistency_proof(get, f, n))
            assert len(read) <= bound
