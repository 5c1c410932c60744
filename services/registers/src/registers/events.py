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
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import accumulate
from typing import NamedTuple

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from govkit.events import cloudevent_headers, inject_trace_headers, subject_for
from govkit.outbox import MessagingTables
from govplat.registers.v1 import events_pb2
from registers.repository import Packed, Same, insert_columns

SOURCE = "//govplat/registers"


#: The RFC 9562 variant nibble (binary 10xx) for a random hex digit's two low bits.
_VARIANT = {f"{n:x}": "89ab"[n & 3] for n in range(16)}


def event_ids(count: int) -> list[str]:
    """``count`` new event ids: UUIDs version 7 (RFC 9562 section 5.7: the Unix time in
    milliseconds, then 74 random bits), so that a bulk load's outbox rows go to the end
    of the id index instead of all over it. One clock reading and one read of the
    system's random source serve them all."""
    stamp = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    randoms = os.urandom(10 * count).hex()
    return [
        f"{head}{randoms[i : i + 3]}-{_VARIANT[randoms[i + 3]]}{randoms[i + 4 : i + 7]}-"
        f"{randoms[i + 7 : i + 19]}"
        for i in range(0, 20 * count, 20)
    ]


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


#: What the ``EntryAppended`` event of one user entry says, as :func:`entry_appended`
#: takes it (its tree size is its entry number): (entry number, key, timestamp, item
#: hashes, items' canonical JSON, root hash).
AppendedEntry = tuple[int, str, str, Sequence[str], Sequence[str], bytes]


class OutboxRows(NamedTuple):
    """Events for the outbox, column by column (:func:`outbox_rows`)."""

    ids: list[str]
    payloads: list[bytes]
    headers: list[str]
    subject: str
    created_at: datetime


def outbox_rows(
    register: str, entries: Iterable[AppendedEntry], count: int, *, sqlite: bool
) -> OutboxRows:
    """The outbox rows of the ``EntryAppended`` events of the ``count`` ``entries`` of
    ``register``, with the current trace context; ``sqlite``: naive UTC times, as SQLite
    stores them. Each payload is :func:`entry_appended`'s, serialised from one reused
    message (a new message per event costs more than its encoding)."""
    message = events_pb2.EntryAppended()
    now = utcnow()
    base = cloudevent_headers(
        event_id="@ID@", message=message, source=SOURCE, subject="@SUBJECT@", time=now
    )
    base.update(inject_trace_headers())
    # Sorted keys put ce-id before ce-subject; both values need no JSON escaping.
    before_id, _, rest = json.dumps(base, sort_keys=True).partition("@ID@")
    before_subject, _, after_subject = rest.partition("@SUBJECT@")
    ids = event_ids(count)
    payloads, headers = [], []
    for new_id, (number, key, timestamp, item_hashes, items_json, root) in zip(
        ids, entries, strict=True
    ):
        message.Clear()
        message.register = register
        message.entry_number = number
        message.key = key
        message.item_hashes.extend(item_hashes)
        message.items_json.extend(items_json)
        message.entry_timestamp.seconds = _seconds(timestamp)
        message.tree_size = number
        message.root_hash = root
        payloads.append(message.SerializeToString())
        headers.append(f"{before_id}{new_id}{before_subject}{register}/{number}{after_subject}")
    created = now.replace(tzinfo=None) if sqlite else now
    return OutboxRows(ids, payloads, headers, subject_for(message), created)


async def add_outbox_rows(session: AsyncSession, tables: MessagingTables, rows: OutboxRows) -> None:
    """Queue prepared :func:`outbox_rows` in the session's write transaction (in order)."""
    if rows.ids:
        columns = {
            "id": rows.ids,
            "subject": Same(rows.subject),
            "payload": Packed(
                b"".join(rows.payloads), ends=list(accumulate(map(len, rows.payloads)))
            ),
            "headers": rows.headers,
            "created_at": Same(rows.created_at),
            "attempts": Same(0),
        }
        await insert_columns(session, tables.outbox, columns)
        session.info["govplat_outbox_added"] = True
