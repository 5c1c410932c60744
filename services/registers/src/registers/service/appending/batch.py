"""One append in progress: :class:`Batch` (see :mod:`registers.service.appending`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from registers import events, hashing, merkle, repository
from registers.checkpoints import Checkpoint
from registers.datatypes import check_item, plain_fields
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

# The hot path keeps flat tuples of strings, numbers and bytes: a named tuple costs
# several times more to build, and the garbage collector stops tracking a tuple only
# once what it holds is untracked, so nested tuples kept until the writer has them
# would make it collect far more often.
#: An entry appended, not yet written: (line, entry number, key, timestamp, its item
#: digests back to back, root hash at its size).
Pending = tuple[int, int, str, str, bytes, bytes]
#: An item of the batch as its entries need it: (canonical JSON, its key field's value,
#: the 16-byte ``record_value`` digests of its other fields' values back to back).
Known = tuple[str, object, bytes]


@dataclass
class _Chunk:
    """One chunk of a batch on its way to the database: its rows, built beforehand.

    ``known`` holds the items of its entries that the batch had at hand; when some
    are not (``missing``), the writer reads them back and builds the events, records
    and values once it has them (``latest`` is ``None`` until then)."""

    item_digests: repository.Packed
    item_contents: list[str]
    entries: list[Pending]
    node_ids: list[int]
    node_hashes: repository.Packed
    unknown: dict[bytes, int]
    known: dict[bytes, Known]
    missing: set[bytes] = field(default_factory=set)
    events: events.OutboxRows | None = None
    values: dict[str, bytes] = field(default_factory=dict)
    latest: dict[str, Pending] | None = None


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


def known_item(register: str, item: dict, canonical: str) -> Known:
    """What the batch keeps of an item of ``register`` (see :data:`Known`)."""
    values = []
    for name, value in item.items():
        if name == register:
            continue
        if type(value) is str:
            values.append(value_digest(name, value))
        else:
            values.extend(value_digest(name, one) for one in value)
    if len(values) > 1:
        values = dict.fromkeys(values)  # the same value twice in a list is one row
    return canonical, item.get(register), b"".join(values)


def now_timestamp() -> str:
    """The current time as an entry timestamp (UTC, to the second)."""
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


class Batch:
    """An append in progress on one register (see the module docstring).

    Build it with :meth:`open` inside a write transaction, feed it with
    :meth:`add_item`, :meth:`append_entry` and :meth:`assert_root_hash` (``line``:
    the 1-based position in the batch, for errors), :meth:`flush` it whenever it is
    :attr:`full`, then :meth:`finish`.
    """

    def __init__(self, session: AsyncSession, context, reg, schema, edge) -> None:
        self.session = session
        self.context = context
        self.reg = reg
        self.schema = schema
        self.edge: merkle.CompactRange = edge
        self.first = reg.tree_size + 1
        self.total_records = reg.total_records
        self.items: dict[bytes, Known] = {}
        self.cache_cleared = False
        self.plain_fields = plain_fields(schema.fields)
        self._writing: asyncio.Future | None = None
        self.sqlite = context.db.is_sqlite
        self.new_items: dict[bytes, str] = {}
        self.unreferenced: dict[bytes, int] = {}
        self.unknown: dict[bytes, int] = {}
        self.entries: list[Pending] = []
        self.node_ids: list[int] = []
        self.node_hashes: list[bytes] = []
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
        """Add an item (already canonical); returns its digest.

        Raises:
            RegisterError: 400 ``INVALID_ITEM`` for an item the register's fields refuse.
        """
        name = self.reg.name
        plain = self.plain_fields
        for field_name, value in item.items():
            if field_name not in plain or type(value) is not str or not value:
                problem = check_item(name, self.schema.fields, item)
                break
        else:  # every value a non-empty string of a string field: valid if it has the key
            problem = None if name in item else check_item(name, self.schema.fields, item)
        if problem is None:
            problem = schemas.check_definition(name, item)
        if problem is not None:
            raise refused_line(line, problem, "INVALID_ITEM")
        digest = hashing.item_digest(canonical)
        if digest not in self.new_items:
            self.new_items[digest] = canonical
            self.unreferenced.setdefault(digest, line)
        items = self.items
        if len(items) >= ITEM_CACHE:  # keep the latest ones: entries follow their items
            items.clear()
            self.cache_cleared = True
        items[digest] = known_item(name, item, canonical)
        return digest

    def append_entry(
        self, line: int, kind: str, key: str, timestamp: str, digests: Sequence[bytes]
    ) -> None:
        """Append an entry whose items were added before (or are in the register).

        Raises:
            RegisterError: 400 ``SYSTEM_ENTRY_REFUSED`` for a system entry that is not the
                register's current metadata, ``KEY_MISMATCH`` for an item whose key
                field is not the entry's key.
        """
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
        unreferenced, items = self.unreferenced, self.items
        for digest in digests:
            if unreferenced:
                unreferenced.pop(digest, None)
            known = items.get(digest)
            if known is None:
                self.unknown.setdefault(digest, line)
            elif known[1] != key:
                self._check_key(line, key, known[0])
        edge = self.edge
        number = edge.size + 1
        leaf = merkle.leaf_hash(hashing.entry_leaf(number, timestamp, key, digests))
        node_ids, node_hashes = self.node_ids, self.node_hashes
        for level, index, digest in edge.append(leaf):
            node_ids.append(level << merkle.LEVEL_SHIFT | index)  # merkle.node_id
            node_hashes.append(digest)
        packed = digests[0] if len(digests) == 1 else b"".join(digests)
        self.entries.append((line, number, key, timestamp, packed, edge.root()))
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
        writer only sends statements.

        Raises:
            RegisterError: the writer's refusal of the chunk before (an orphan entry).
        """
        await self.drain()
        new_items, entries, unknown = self.new_items, self.entries, self.unknown
        self.new_items, self.entries, self.unknown = {}, [], {}
        node_ids, node_hashes = self.node_ids, self.node_hashes
        self.node_ids, self.node_hashes = [], []
        items = self.items
        chunk = _Chunk(
            item_digests=repository.Packed(b"".join(new_items), 32),
            item_contents=list(new_items.values()),
            entries=entries,
            node_ids=node_ids,
            node_hashes=repository.Packed(b"".join(node_hashes), 32),
            unknown=unknown,
            known=items,
        )
        if unknown or self.cache_cleared:
            # Some items are to be read back, or the cache changed: the chunk keeps
            # what it needs of the cache, which goes on changing while it is written.
            digests = {d for e in entries for d in hashing.split_digests(e[4])}
            chunk.known = {d: items[d] for d in digests if d in items}
            chunk.missing = {d for d in digests if d not in chunk.known}
            self.cache_cleared = False
        if entries and not chunk.missing:
            self._prepare(chunk)
        self._writing = asyncio.ensure_future(self._write(chunk))

    def _prepare(self, chunk: _Chunk) -> None:
        """The chunk's events and record values, from its items (``chunk.known``)."""
        name, known, entries = self.reg.name, chunk.known, chunk.entries
        format_hash, split = hashing.format_hash, hashing.split_digests

        def appended():  # one at a time: none of them outlives its event
            for _, number, key, timestamp, packed, root in entries:
                if len(packed) == 32:
                    hashes, contents = (format_hash(packed),), (known[packed][0],)
                else:
                    digests = split(packed)
                    hashes = tuple([format_hash(d) for d in digests])
                    contents = tuple([known[d][0] for d in digests])
                yield number, key, timestamp, hashes, contents, root

        chunk.events = events.outbox_rows(name, appended(), len(entries), sqlite=self.sqlite)
        latest = {entry[2]: entry for entry in entries}
        values = chunk.values
        for key, (_, _, _, _, packed, _) in latest.items():
            if len(packed) == 32:
                values[key] = known[packed][2]
            else:
                found = [known[d][2] for d in split(packed)]
                values[key] = b"".join(dict.fromkeys(split(b"".join(found), 16)))
        chunk.latest = latest
        if name == "register":
            for line, _, key, _, packed, _ in entries:
                self.definitions[key] = (line, json.loads(known[packed[:32]][0]))

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
        session, register_id, entries = self.session, self.reg.id, chunk.entries
        await repository.insert_items(session, register_id, chunk.item_digests, chunk.item_contents)
        if not entries:
            return
        if chunk.latest is None:  # entries naming items read back from the database
            fetched = await repository.find_items(session, register_id, chunk.missing)
            name, known = self.reg.name, chunk.known
            for digest, content in fetched.items():
                known[digest] = known_item(name, json.loads(content), content)
            for line, _, key, _, packed, _ in chunk.entries:
                for digest in hashing.split_digests(packed):
                    if digest not in known:
                        raise refused_line(
                            line,
                            f"append-entry names {hashing.format_hash(digest)}, an item that "
                            "is neither added before it nor in the register",
                            "ORPHAN_ENTRY",
                        )
                    if digest in chunk.unknown:
                        self._check_key(line, key, known[digest][0])
            self._prepare(chunk)
        packed = b"".join([e[4] for e in entries])
        await repository.insert_entries(
            session,
            "user",
            register_id,
            [e[1] for e in entries],
            [e[2] for e in entries],
            [e[3] for e in entries],
            repository.Packed(packed, 32)
            if len(packed) == 32 * len(entries)
            else repository.Packed(packed, ends=list(accumulate(len(e[4]) for e in entries))),
        )
        await repository.insert_nodes(session, register_id, chunk.node_ids, chunk.node_hashes)
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
        new_keys, new_positions, new_numbers, moves, stale = [], [], [], [], []
        value_digests, value_positions = [], []
        for key, entry in chunk.latest.items():
            number = entry[1]
            position = positions.get(key)
            if position is None and key in found:
                position = positions[key] = found[key][0]
            if position is not None:
                moves.append((key, number))
                stale.append(position)
            else:
                self.total_records += 1
                position = positions[key] = self.total_records
                new_keys.append(key)
                new_positions.append(position)
                new_numbers.append(number)
            values = chunk.values[key]  # 16-byte digests back to back
            value_digests.append(values)
            if len(values) == 16:
                value_positions.append(position)
            else:
                value_positions.extend([position] * (len(values) // 16))
        await repository.insert_records(session, register_id, new_keys, new_positions, new_numbers)
        await repository.move_records(session, register_id, moves)
        await repository.replace_record_values(
            session,
            register_id,
            stale,
            repository.Packed(b"".join(value_digests), 16),
            value_positions,
        )

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
