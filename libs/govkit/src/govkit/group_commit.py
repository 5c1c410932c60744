"""Group commit: the writes of many concurrent callers in one transaction.

A durable commit (``synchronous=FULL`` on SQLite) and each statement's round trip to
the database's thread cost the same for one row as for a hundred, and SQLite lets one
writer at a time in. So concurrent creates queue here and one task writes all that
are waiting in one transaction; while it commits, the next ones gather. Nobody waits
for a timer: a caller alone is written at once, as before. Each caller is answered
only after the transaction holding its rows has committed.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Runs ``write(items) -> results`` (one result per item, in order) for everything
    submitted while the previous call ran, at most ``limit`` items at a time.

    ``write`` runs in a task of its own (in an empty context, so no caller's trace
    span is its parent). An exception it raises goes to every caller of that call;
    a caller that gives up (is cancelled) before its call starts is left out of it.
    """

    def __init__(
        self, write: Callable[[list[Item]], Awaitable[list[Result]]], *, limit: int = 100
    ) -> None:
        self._write = write
        self._limit = limit
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._task: asyncio.Task | None = None

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` and wait for its result (what ``write`` returned for it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.append((item, future))
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._drain(loop), context=contextvars.Context())
        return await future

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            # Entries of another event loop (a test's, long closed) cannot be answered.
            waiting = [
                (item, future)
                for item, future in self._queue
                if not future.done() and future.get_loop() is loop
            ]
            if not waiting:
                self._queue.clear()
                return
            batch, rest = waiting[: self._limit], waiting[self._limit :]
            self._queue[:] = rest
            try:
                results = await self._write([item for item, _future in batch])
            except asyncio.CancelledError:
                for _item, future in batch:
                    future.cancel()
                raise
            except Exception as exc:
                for _item, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_item, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
