"""``govplat registers verify`` finds any edit of the stored rows and names the entry."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from govplat_cli.main import app
from registers.datatypes import FieldDefinition
from registers.service import appending
from registers.service.verification import verify_register


@pytest.fixture
async def sample(registers):
    await registers.define(
        "sample", [FieldDefinition("sample", "string"), FieldDefinition("v", "string")]
    )
    for batch in range(3):
        await appending.append_entries(
            registers.context,
            "sample",
            [
                appending.NewEntry(f"k{i}", [{"sample": f"k{i}", "v": f"{batch}-{i}"}])
                for i in range(40)
            ],
        )
    return registers


async def verify_command(name: str, database_url: str):
    """``govplat registers verify NAME`` (in a thread: it runs its own event loop)."""
    args = ["registers", "verify", name, "--database-url", database_url]
    return await asyncio.to_thread(CliRunner().invoke, app, args)


async def tamper(registers, statement: str) -> None:
    async with registers.context.db.write() as session:
        reg_id = (
            await session.execute(text("SELECT id FROM register WHERE name = 'sample'"))
        ).scalar()
        await session.execute(text(statement.replace(":reg", str(reg_id))))


async def test_an_untouched_register_verifies(sample):
    report = await verify_register(sample.context, "sample")
    assert report.ok, report.problems
    assert report.tree_size == 120 and report.checkpoints == 3


TAMPERING = {
    "an entry's key": ("UPDATE entry SET key = 'k99' WHERE register_id = :reg AND entry_number = 57", "entry 57"),
    "an entry's time": (
        "UPDATE entry SET timestamp = '2000-01-01T00:00:00Z' WHERE register_id = :reg AND entry_number = 101",
        "entry 101",
    ),
    "an item's JSON": (
        "UPDATE item SET content = REPLACE(content, '\"1-5\"', '\"1-X\"') WHERE register_id = :reg",
        "entry 46",
    ),
    "a stored leaf hash": (
        "UPDATE tree_node SET hash = (SELECT hash FROM tree_node WHERE register_id = :reg AND node_id = 1)"
        " WHERE register_id = :reg AND node_id = 9",
        "entry 10",
    ),
    "a deleted entry": ("DELETE FROM entry WHERE register_id = :reg AND entry_number = 80", "entries 80"),
    "a tree head": (
        "UPDATE tree_head SET root_hash = (SELECT root_hash FROM tree_head WHERE register_id = :reg"
        " AND tree_size = 40) WHERE register_id = :reg AND tree_size = 80",
        "entries 41-80",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(TAMPERING))
async def test_editing_one_stored_row_is_reported_by_entry_number(sample, case):
    statement, named = TAMPERING[case]
    await tamper(sample, statement)
    report = await verify_register(sample.context, "sample")
    assert not report.ok
    assert any(problem.startswith(named) for problem in report.problems), report.problems


async def test_the_command_exits_1_naming_the_entry(sample, database_url):
    await tamper(sample, TAMPERING["an entry's key"][0])
    await sample.context.db.dispose()
    result = await verify_command("sample", database_url)
    assert result.exit_code == 1
    assert "entry 57" in result.output


async def test_the_command_reports_a_sound_register_and_an_unknown_one(sample, database_url):
    await sample.context.db.dispose()
    good = await verify_command("sample", database_url)
    unknown = await verify_command("nowhere", database_url)
    assert good.exit_code == 0 and "120 entries verified" in good.output
    assert unknown.exit_code == 1 and "no register" in unknown.output
