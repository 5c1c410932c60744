"""Appending to a register: RSF loads and JSON entries, atomic per batch.

One :class:`Batch` is one write transaction: the register row is locked, the
Merkle tree's right edge (O(log n) stored nodes) is read once, and every command
is applied in order. Rows are written in chunks of :data:`FLUSH_EVERY` as the batch
streams, inside the same transaction, so a load of any size needs bounded memory
and either commits whole or leaves nothing: an invalid line raises
:class:`registers.errors.RegisterError` naming it, and the transaction rolls back.

Per user entry the batch writes the entry, its new items, the leaf and the
perfect subtrees it completes (2 tree rows on average, at most log2(n) + 1), the
record's new state and its ``EntryAppended`` event; at the end one signed tree head.

Rules (openregister-java ``RSFExecutor``, ``ItemValidator``, ``EntryValidator``):
items must be valid for the register's fields; an entry's key must be its items'
key field; an entry may only name items added earlier in the batch or already in
the register (else "orphan entry"); an item added but never used by the batch is
refused ("orphan item"); ``assert-root-hash`` must equal the root so far; system
entries are accepted only when they repeat the register's current metadata.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from registers import hashing, repository, rsf
from registers.errors import RegisterError, refused_line
from registers.service import schema as schemas
from registers.service.appending.batch import (
    FLUSH_EVERY,
    ITEM_CACHE,
    MAX_ITEMS,
    AppendResult,
    Batch,
    now_timestamp,
    value_digest,
)

__all__ = [
    "FLUSH_EVERY",
    "ITEM_CACHE",
    "MAX_ITEMS",
    "AppendResult",
    "Batch",
    "NewEntry",
    "append_entries",
    "append_once",
    "load_rsf",
    "now_timestamp",
    "value_digest",
]


# -- use cases -------------------------------------------------------------------------


async def load_rsf(context, name: str, lines: AsyncIterator[str]) -> AppendResult:
    """Load an RSF stream into register ``name`` in one transaction.

    Args:
        lines: the RSF text, line by line (without line endings); empty lines are
            skipped.

    Raises:
        RegisterError: 404 for an unknown register; 400 naming the first invalid line
            (bad command, item, key, timestamp, orphan entry or item); 409 for a
            failed ``assert-root-hash``. Nothing of the batch is kept.
    """
    signer = await context.signer()
    async with context.db.write() as session:
        batch = await Batch.open(session, context, name)
        number = 0
        async for text in lines:
            number += 1
            try:
                if not number & 31:  # between two commands, every 32 lines
                    if batch.full:
                        await batch.flush()
                    elif batch.writing:
                        await asyncio.sleep(0)  # let the writer send its next statement
                if not text:
                    continue
                command, _, rest = text.partition("\t")
                try:
                    if command == "add-item":
                        batch.add_item(number, *rsf.item_arguments(rest))
                        continue
                    if command == "append-entry":
                        batch.append_entry(number, *rsf.entry_arguments(rest))
                        continue
                    digest = rsf.parse_line(text).digest  # assert-root-hash, or refused
                except rsf.RsfError as exc:
                    raise refused_line(number, str(exc), "INVALID_RSF") from None
                batch.assert_root_hash(number, digest)
            except RegisterError as error:
                await batch.settle(error)
        return await batch.finish(signer)


@dataclass(frozen=True)
class NewEntry:
    """One entry to append: a key and its items (JSON objects)."""

    key: str
    items: list[dict]


async def append_entries(
    context,
    name: str,
    entries: Sequence[NewEntry],
    *,
    assert_root_hash: bytes | None = None,
    timestamp: str | None = None,
    session: AsyncSession | None = None,
) -> AppendResult:
    """Append entries (the JSON API, gRPC and seeding), atomically.

    Args:
        entries: the entries, in order; each entry's items are canonicalised here.
        assert_root_hash: append only if this is the current root hash.
        timestamp: the entries' time (default: now, to the second).
        session: an open write transaction to append in (default: one of its own).

    Raises:
        RegisterError: 404 unknown register; 400 naming the first bad entry (line =
            its 1-based position); 409 when ``assert_root_hash`` is not the root.
    """
    signer = await context.signer()
    if session is None:
        async with context.db.write() as own:
            return await _append(own, context, name, entries, assert_root_hash, timestamp, signer)
    return await _append(session, context, name, entries, assert_root_hash, timestamp, signer)


async def _append(session, context, name, entries, assert_root_hash, timestamp, signer):
    batch = await Batch.open(session, context, name)
    if assert_root_hash is not None:
        batch.assert_root_hash(1, assert_root_hash)
    timestamp = timestamp or now_timestamp()
    for number, new in enumerate(entries, start=1):
        if not hashing.valid_key(new.key):
            raise refused_line(number, f"{new.key[:80]!r} is not a valid key", "INVALID_KEY")
        if not 1 <= len(new.items) <= MAX_ITEMS:
            raise refused_line(number, f"an entry has 1 to {MAX_ITEMS} items", "INVALID_ENTRY")
        digests = []
        for item in new.items:
            try:
                canonical = hashing.canonical_json(item)
            except hashing.ItemError as exc:
                raise refused_line(number, str(exc), "INVALID_ITEM") from None
            digests.append(batch.add_item(number, item, canonical))
        batch.append_entry(number, "user", new.key, timestamp, digests)
        if batch.full:
            await batch.flush()
    return await batch.finish(signer)


async def append_once(
    context,
    name: str,
    entries: Sequence[NewEntry],
    *,
    request_id: str,
    assert_root_hash: bytes | None = None,
) -> AppendResult:
    """:func:`append_entries`, once per ``request_id``: a retry with the same id and the
    same entries returns the first call's result without appending again.

    Raises:
        RegisterError: as :func:`append_entries`; 409 when the id was used for other
            entries.
    """
    request = json.dumps(
        [[e.key, e.items] for e in entries]
        + [assert_root_hash.hex() if assert_root_hash else None],
        sort_keys=True,
    ).encode()
    request_digest = hashlib.sha256(request).digest()
    await context.signer()
    async with context.db.write() as session:
        reg = await schemas.get_register_or_404(session, name, lock=True)
        seen = await repository.get_append_request(session, reg.id, request_id)
        if seen is not None:
            if bytes(seen.request_digest) != request_digest:
                raise RegisterError(
                    "REQUEST_ID_REUSED",
                    "this request_id was used for other entries",
                    status=409,
                )
            head = await repository.tree_head_at(session, reg.id, seen.tree_size)
            return AppendResult(
                name,
                seen.first_entry_number,
                seen.tree_size,
                bytes(head.root_hash),
                head.timestamp,
                head.note,
            )
        result = await append_entries(
            context, name, entries, assert_root_hash=assert_root_hash, session=session
        )
        await repository.insert_append_request(
            session,
            register_id=reg.id,
            request_id=request_id,
            request_digest=request_digest,
            first_entry_number=result.first_entry_number,
            entry_count=result.appended,
            tree_size=result.tree_size,
            created_at=utcnow(),
        )
        return result
