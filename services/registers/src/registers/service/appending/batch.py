"""One append in progress: :class:`Batch` (see :mod:`registers.service.appending`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from registers import events, hashing, merkle, repository
from registers.checkpoints import Checkpoint
from registers.datatypes import check_item
from registers.errors import RegisterError, refused_line
from registers.service import schema as schemas

#: Items one entry may name (GOV.UK's entries named one; the indexes experiment, more).
MAX_ITEMS = 100
#: Entries (and items) buffered before they are written to the open transaction.
FLUSH_EVERY = 5000
#: Items of the batch kept in memory for the key check and the events (the cache starts
#: again when full); an entry naming an item no longer in it reads it back from the
#: transaction.
ITEM_CACHE = 100_000


class _Pending(NamedTuple):
    line: int
    number: int
    key: str
    timestamp: str
    digests: tuple[bytes, ...]
    root: bytes


@dataclass
class _Chunk:
    """One chunk of a batch on its way to the database: its rows, built beforehand."""

    items: list[tuple]
    entries: list[_Pending]
    entry_rows: list[tuple]
    nodes: list[tuple]
    unknown: dict[bytes, int]
    missing: set[bytes]
    events: list[tuple] = field(default_factory=list)
    values: dict[str, set[bytes]] = field(default_factory=dict)
    latest: dict[str, _Pending] | None = None


class _Contents:
    """Item contents by digest: the batch's cache, then those read back for this flush."""

    def __init__(
        self, cached: dict[bytes, str], fetched: dict[bytes, str], parsed: dict[bytes, dict]
    ) -> None:
        self.cached = cached
        self.fetched = fetched
        self._parsed = parsed

    def parsed(self, digest: bytes) -> dict:
        """The item as a dict."""
        found = self._parsed.get(digest)
        return found if found is not None else json.loads(self[digest])

    def __contains__(self, digest: bytes) -> bool:
        return digest in self.cached or digest in self.fetched

    def __getitem__(self, digest: bytes) -> str:
        found = self.cached.get(digest)
        return found if found is not None else self.fetched[digest]


@dataclass(frozen=True)
class AppendResult:
    """What a batch appended: entries ``first_entry_number`` .. ``tree_size``, the new
    root hash and the signed checkpoint (``note``, empty when nothing was appended)."""

    register: str
    first_entry_number: int
    tree_size: int
    root_hash: bytes
    timestamp: str
    note: str

    @property
    def appended(self) -> int:
        """How many user entries the batch appended."""
        return self.tree_size - self.first_entry_number + 1


def value_digest(field: str, value: str) -> bytes:
    """The 16-byte digest ``record_value`` indexes a (field, value) pair by."""
    return hashlib.sha256(f"{field}\x00{value}".encode()).digest()[:16]


def now_timestamp() -> str:
    """The current time as an entry timestamp (UTC, to the second)."""
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


class Batch:
    """An append in progress on one register (see the module docstring).

    Build it with :meth:`open` inside a write transaction, feed it with
    :meth:`add_item`, :meth:`append_entry` and :meth:`assert_root_hash` (``line``:
    the 1-based position in the batch, for errors), then :meth:`finish`.
    """

    def __init__(self, session: AsyncSession, context, reg, schema, edge) -> None:
        self.session = session
        self.context = context
        self.reg = reg
        self.schema = schema
        self.edge: merkle.CompactRange = edge
        self.first = reg.tree_size + 1
        self.total_records = reg.total_records
        self.items: dict[bytes, str] = {}
        self.parsed: dict[bytes, dict] = {}
        self._writing: asyncio.Future | None = None
        self.sqlite = context.db.is_sqlite
        self.new_items: dict[bytes, str] = {}
        self.unreferenced: dict[bytes, int] = {}
        self.unknown: dict[bytes, int] = {}
        self.entries: list[_Pending] = []
        self.nodes: list[tuple[int, int, bytes]] = []
        self.positions: dict[str, int] = {}
        self.definitions: dict[str, tuple[int, dict]] = {}
        self.last_timestamp = reg.last_updated

    @classmethod
    async def open(cls, session: AsyncSession, context, name: str) -> Batch:
        """Lock register ``name`` and read its tree's right edge.

        Raises:
            RegisterError: 404 for an unknown register.
        """
        reg = await schemas.get_register_or_404(session, name, lock=True)
        schema = await schemas.load_schema(session, context, reg)
        positions = merkle.CompactRange.positions(reg.tree_size)
        nodes = await repository.get_nodes(session, reg.id, positions)
        edge = merkle.CompactRange(
            reg.tree_size, [(lv, ix, nodes[(lv, ix)]) for lv, ix in positions]
        )
        return cls(session, context, reg, schema, edge)

    # -- commands ------------------------------------------------------------------

    @property
    def full(self) -> bool:
        """Whether enough is buffered to :meth:`flush`."""
        return len(self.entries) >= FLUSH_EVERY or len(self.new_items) >= FLUSH_EVERY

    def add_item(self, line: int, item: dict, canonical: str) -> bytes:
        """Add an item (already canonical); returns its digest."""
        problem = check_item(self.reg.name, self.schema.fields, item)
        if problem is None:
            problem = schemas.check_definition(self.reg.name, item)
        if problem is not None:
            raise refused_line(line, problem, "INVALID_ITEM")
        digest = hashing.item_digest(canonical)
        if digest not in self.new_items:
            self.new_items[digest] = canonical
            self.unreferenced.setdefault(digest, line)
        if len(self.items) >= ITEM_CACHE:  # keep the latest ones: entries follow their items
            self.items.clear()
            self.parsed.clear()
        self.items[digest] = canonical
        self.parsed[digest] = item
        return digest

    def append_entry(
        self, line: int, kind: str, key: str, timestamp: str, digests: Sequence[bytes]
    ) -> None:
        """Append an entry whose items were added before (or are in the register)."""
        if kind == "system":
            if self.schema.system.get(key) != tuple(digests):
                raise refused_line(
                    line,
                    "system entries hold the register's definition, which is changed by "
                    "appending to the register and field registers",
                    "SYSTEM_ENTRY_REFUSED",
                )
            for digest in digests:
                self.unreferenced.pop(digest, None)
            return
        for digest in digests:
            self.unreferenced.pop(digest, None)
            item = self.parsed.get(digest)
            if item is None:
                self.unknown.setdefault(digest, line)
            elif item.get(self.reg.name) != key:
                self._check_key(line, key, self.items[digest])
        number = self.edge.size + 1
        leaf = merkle.leaf_hash(hashing.entry_leaf(number, timestamp, key, list(digests)))
        self.nodes.extend(self.edge.append(leaf))
        self.entries.append(
            _Pending(line, number, key, timestamp, tuple(digests), self.edge.root())
        )
        self.last_timestamp = timestamp

    def assert_root_hash(self, line: int, digest: bytes) -> None:
        """Refuse the batch unless the root over the user entries so far is ``digest``."""
        root = self.edge.root()
        if root != digest:
            raise RegisterError(
                "ROOT_HASH_MISMATCH",
                f"line {line}: assert-root-hash {hashing.format_hash(digest)} is not the "
                f"root hash {hashing.format_hash(root)} of the register at size "
                f"{self.edge.size}; nothing from this batch was kept",
                status=409,
                line=line,
            )

    def _check_key(self, line: int, key: str, content: str) -> None:
        value = json.loads(content).get(self.reg.name)
        if value != key:
            raise refused_line(
                line,
                f"the entry's key {key[:80]!r} is not its item's {self.reg.name!r} "
                f"value {str(value)[:80]!r}",
                "KEY_MISMATCH",
            )

    # -- writing ---------------------------------------------------------------------

    async def flush(self) -> None:
        """Hand what is buffered to the writer, which writes it into the open transaction
        while the batch goes on reading (SQLite's thread and this one overlap); one
        chunk is written at a time, in order. The rows are built here, so that the
        writer only sends statements."""
        await self.drain()
        new_items, entries, nodes, unknown = self.new_items, self.entries, self.nodes, self.unknown
        self.new_items, self.entries, self.nodes, self.unknown = {}, [], [], {}
        rid = self.reg.id
        chunk = _Chunk(
            items=[(rid, d, c) for d, c in new_items.items()],
            entries=entries,
            entry_rows=[(rid, e.number, e.key, e.timestamp, b"".join(e.digests)) for e in entries],
            nodes=repository.node_rows(rid, nodes),
            unknown=unknown,
            missing={d for e in entries for d in e.digests if d not in self.items},
        )
        if entries and not chunk.missing and not unknown:
            self._prepare(chunk, _Contents(self.items, {}, self.parsed))
        self._writing = asyncio.ensure_future(self._write(chunk))

    def _prepare(self, chunk: _Chunk, contents: _Contents) -> None:
        """The chunk's events and record values, from the items' contents."""
        name = self.reg.name
        chunk.events = events.outbox_rows(
            [
                events.entry_appended(
                    name,
                    e.number,
                    e.key,
                    e.timestamp,
                    [hashing.format_hash(d) for d in e.digests],
                    [contents[d] for d in e.digests],
                    e.number,
                    e.root,
                )
                for e in chunk.entries
            ],
            sqlite=self.sqlite,
        )
        latest = {entry.key: entry for entry in chunk.entries}
        chunk.values = {
            key: {
                value_digest(field, one)
                for digest in entry.digests
                for field, value in contents.parsed(digest).items()
                if field != name
                for one in (value if isinstance(value, list) else (value,))
            }
            for key, entry in latest.items()
        }
        chunk.latest = latest
        if name == "register":
            for entry in chunk.entries:
                self.definitions[entry.key] = (entry.line, contents.parsed(entry.digests[0]))

    @property
    def writing(self) -> bool:
        """Whether a chunk is being written."""
        return self._writing is not None and not self._writing.done()

    async def drain(self) -> None:
        """Wait for the chunk being written; its refusal, if any, is raised here."""
        if self._writing is not None:
            task, self._writing = self._writing, None
            await task

    async def settle(self, error: BaseException) -> None:
        """After ``error`` in a later line: raise the writer's refusal of an earlier
        line if there is one, else ``error``."""
        await self.drain()
        raise error

    async def _write(self, chunk: _Chunk) -> None:
        session, register_id = self.session, self.reg.id
        await repository.insert_items(session, chunk.items)
        if not chunk.entries:
            return
        if chunk.latest is None:  # entries naming items read back from the database
            fetched = await repository.find_items(session, register_id, chunk.missing)
            contents = _Contents(self.items, fetched, self.parsed)
            for entry in chunk.entries:
                for digest in entry.digests:
                    if digest not in contents:
                        raise refused_line(
                            entry.line,
                            f"append-entry names {hashing.format_hash(digest)}, an item that "
                            "is neither added before it nor in the register",
                            "ORPHAN_ENTRY",
                        )
                    if digest in chunk.unknown:
                        self._check_key(entry.line, entry.key, contents[digest])
            self._prepare(chunk, contents)
        await repository.insert_entries(session, "user", chunk.entry_rows)
        await repository.insert_nodes_rows(session, chunk.nodes)
        await self._update_records(chunk)
        await events.add_outbox_rows(session, self.context.tables, chunk.events)

    async def _update_records(self, chunk: _Chunk) -> None:
        session, register_id = self.session, self.reg.id
        positions = self.positions
        if len(positions) > ITEM_CACHE:
            positions.clear()
        found = await repository.find_records(
            session, register_id, [k for k in chunk.latest if k not in positions]
        )
        new_rows, moves, stale, values = [], [], [], []
        for key, entry in chunk.latest.items():
            position = positions.get(key)
            if position is None and key in found:
                position = positions[key] = found[key][0]
            if position is not None:
                moves.append((key, entry.number))
                stale.append(position)
            else:
                self.total_records += 1
                position = positions[key] = self.total_records
                new_rows.append((register_id, key, position, entry.number))
            values.extend((register_id, d, position) for d in chunk.values[key])
        await repository.insert_records(session, new_rows)
        await repository.move_records(session, register_id, moves)
        await repository.replace_record_values(session, register_id, stale, values)

    async def finish(self, signer) -> AppendResult:
        """Check for orphan items, write the rest, the counters and the signed tree head."""
        if self.unreferenced:
            digest, line = min(self.unreferenced.items(), key=lambda pair: pair[1])
            raise refused_line(
                line,
                f"add-item {hashing.format_hash(digest)} is not used by any entry of the batch",
                "ORPHAN_ITEM",
            )
        await self.flush()
        await self.drain()
        await self._apply_definitions()
        size = self.edge.size
        root = self.edge.root()
        note = ""
        timestamp = self.last_timestamp or ""
        if size >= self.first:
            await repository.update_register(
                self.session,
                self.reg.id,
                tree_size=size,
                total_records=self.total_records,
                last_updated=self.last_timestamp,
            )
            timestamp = now_timestamp()
            checkpoint = Checkpoint(f"{signer.name}/{self.reg.name}", size, root, timestamp)
            note = signer.sign(checkpoint)
            await repository.insert_tree_head(
                self.session,
                register_id=self.reg.id,
                tree_size=size,
                root_hash=root,
                timestamp=timestamp,
                note=note,
            )
        return AppendResult(self.reg.name, self.first, size, root, timestamp, note)

    async def _apply_definitions(self) -> None:
        """Appends to the ``register`` register define registers (their system entries)."""
        if self.reg.name != "register" or not self.definitions:
            return
        field_reg = await repository.get_register(self.session, "field")
        for name, (line, record) in self.definitions.items():
            items = {}
            for field_name in record["fields"]:
                row = await repository.record_by_key(self.session, field_reg.id, field_name)
                if row is None:
                    raise refused_line(
                        line,
                        f"field {field_name!r} is not in the field register; append it there first",
                        "UNKNOWN_FIELD",
                    )
                digest = hashing.split_digests(bytes(row.item_digests))[0]
                content = await repository.find_items(self.session, field_reg.id, [digest])
                items[field_name] = json.loads(content[digest])
            await schemas.apply_definition(
                self.session, name, record, items, self.last_timestamp or now_timestamp()
            )
            self.context.schemas.pop(name, None)
