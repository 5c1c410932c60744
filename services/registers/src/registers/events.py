"""The events the registers service publishes: ``EntryAppended``, one per user entry.

They are written to the outbox in the append's own transaction, like
:func:`govkit.outbox.add_event`, but as one ``executemany`` for the whole batch: a
bulk load of a million entries writes a million events, and one statement per event
would cost more than the append itself. The CloudEvents headers and the trace
context are those of the batch; ``ce-subject`` is ``<register>/<entry number>``.
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from govkit.events import cloudevent_headers, inject_trace_headers, subject_for
from govkit.outbox import MessagingTables
from govplat.registers.v1 import events_pb2
from registers.repository import bulk_insert

SOURCE = "//govplat/registers"


def event_id() -> str:
    """A new event id: a UUID version 7 (RFC 9562: milliseconds, then random bits), so that
    a bulk load's outbox rows go to the end of the id index instead of all over it."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return str(uuid.UUID(int=value))


@functools.lru_cache(maxsize=65536)
def _seconds(timestamp: str) -> int:
    return int(datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def entry_appended(
    register: str,
    entry_number: int,
    key: str,
    timestamp: str,
    item_hashes: Sequence[str],
    items_json: Sequence[str],
    tree_size: int,
    root_hash: bytes,
) -> events_pb2.EntryAppended:
    """The ``EntryAppended`` event of one user entry (``timestamp``: RFC 3339, ``Z``)."""
    return events_pb2.EntryAppended(
        register=register,
        entry_number=entry_number,
        key=key,
        item_hashes=item_hashes,
        items_json=items_json,
        entry_timestamp=Timestamp(seconds=_seconds(timestamp)),
        tree_size=tree_size,
        root_hash=root_hash,
    )


OUTBOX_COLUMNS = ("id", "subject", "payload", "headers", "created_at", "attempts")


def outbox_rows(events: Sequence[events_pb2.EntryAppended], *, sqlite: bool) -> list[tuple]:
    """The outbox rows (:data:`OUTBOX_COLUMNS`) of ``events``, with the current trace
    context; ``sqlite``: naive UTC times, as SQLite stores them."""
    if not events:
        return []
    now = utcnow()
    base = cloudevent_headers(
        event_id="@ID@", message=events[0], source=SOURCE, subject="@SUBJECT@", time=now
    )
    base.update(inject_trace_headers())
    template = json.dumps(base, sort_keys=True)
    subject = subject_for(events[0])
    created = now.replace(tzinfo=None) if sqlite else now
    rows = []
    for event in events:
        new_id = event_id()
        headers = template.replace("@ID@", new_id, 1).replace(
            "@SUBJECT@", f"{event.register}/{event.entry_number}", 1
        )
        rows.append((new_id, subject, event.SerializeToString(), headers, created, 0))
    return rows


async def add_outbox_rows(
    session: AsyncSession, tables: MessagingTables, rows: list[tuple]
) -> None:
    """Queue prepared :func:`outbox_rows` in the session's write transaction (in order)."""
    if rows:
        await bulk_insert(session, tables.outbox, OUTBOX_COLUMNS, rows)
        session.info["govplat_outbox_added"] = True
