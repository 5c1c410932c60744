"""Group commit (:mod:`govkit.group_commit`): what many concurrent callers submit is
written in one call of the writer, and each caller gets its own result, or the call's
error, only once that call has returned."""

from __future__ import annotations

import asyncio

import pytest

from govkit.group_commit import GroupCommit


async def test_callers_waiting_together_are_written_in_one_call():
    calls: list[list[int]] = []
    writing = asyncio.Event()
    release = asyncio.Event()

    async def write(items: list[int]) -> list[int]:
        calls.append(items)
        writing.set()
        await release.wait()
        return [item * 10 for item in items]

    commit = GroupCommit(write)
    first = asyncio.create_task(commit.submit(0))
    await writing.wait()
    later = [asyncio.create_task(commit.submit(n)) for n in range(1, 5)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [10, 20, 30, 40]
    assert calls == [[0], [1, 2, 3, 4]]


async def test_a_batch_holds_at_most_its_limit():
    calls: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0)
        return items

    commit = GroupCommit(write, limit=2)
    assert await asyncio.gather(*(commit.submit(n) for n in range(5))) == [0, 1, 2, 3, 4]
    assert max(len(call) for call in calls) == 2


async def test_an_error_of_a_batch_reaches_each_of_its_callers_and_the_next_batch_runs():
    writing = asyncio.Event()
    release = asyncio.Event()

    async def write(items: list[int]) -> list[int]:
        writing.set()
        await release.wait()
        if 1 in items:
            raise ValueError("refused")
        return items

    commit = GroupCommit(write)
    first = asyncio.create_task(commit.submit(0))
    await writing.wait()
    refused = [asyncio.create_task(commit.submit(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 0
    for task in refused:
        with pytest.raises(ValueError, match="refused"):
            await task
    assert await commit.submit(7) == 7


async def test_a_caller_that_gives_up_before_its_batch_starts_is_left_out():
    calls: list[list[str]] = []
    release = asyncio.Event()

    async def write(items: list[str]) -> list[str]:
        calls.append(items)
        await release.wait()
        return items

    commit = GroupCommit(write)
    first = asyncio.create_task(commit.submit("first"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(commit.submit("gone"))
    kept = asyncio.create_task(commit.submit("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert await first == "first"
    assert await kept == "kept"
    assert calls == [["first"], ["kept"]]
