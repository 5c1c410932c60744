"""Database access of the registers service (SQLAlchemy Core on the caller's session).

Every function takes the session of the transaction its caller (the service layer)
opened. Bulk writes are ``executemany`` inserts; reads that need many rows by key
(items of a page, the nodes of a proof) are one ``IN`` query each, in chunks of
:data:`CHUNK` parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from registers import merkle
from registers.models import (
    append_request,
    entry,
    item,
    record,
    record_value,
    register,
    signing_key,
    system_entry,
    tree_head,
    tree_node,
)

#: Parameters per ``IN`` list (SQLite's default limit is 32766; PostgreSQL's 32767).
CHUNK = 900
_INSERTS: dict[tuple[str, str], tuple[str, list[int] | None]] = {}
ENTRY_COLUMNS = ("register_id", "entry_number", "key", "timestamp", "item_digests")
ITEM_COLUMNS = ("register_id", "digest", "content")
RECORD_COLUMNS = ("register_id", "key", "position", "entry_number")
VALUE_COLUMNS = ("register_id", "digest", "position")


async def bulk_insert(
    session: AsyncSession,
    table,
    columns: tuple[str, ...],
    rows: Sequence[tuple],
    *,
    skip_existing: bool = False,
) -> None:
    """Insert ``rows`` (tuples of ``columns``) with one ``executemany`` on the driver's
    cursor: SQLAlchemy's per-row parameter processing costs more than the insert itself
    at bulk-load rates, so values must already be in the driver's types (bytes, str,
    int; naive UTC datetimes on SQLite). ``skip_existing``: rows whose primary key is
    already there are left out (``ON CONFLICT DO NOTHING``: SQLite and PostgreSQL)."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    cache_key = (table.name, f"{dialect.name} {skip_existing} {','.join(columns)}")
    compiled = _INSERTS.get(cache_key)
    if compiled is None:
        done = table.insert().values({c: bindparam(c) for c in columns}).compile(dialect=dialect)
        order = tuple(done.positiontup or columns)
        sql = str(done) + (" ON CONFLICT DO NOTHING" if skip_existing else "")
        compiled = (sql, None if order == columns else [columns.index(c) for c in order])
        _INSERTS[cache_key] = compiled
    sql, reorder = compiled
    if reorder is not None:
        rows = [tuple(row[i] for i in reorder) for row in rows]
    await connection.exec_driver_sql(sql, list(rows))


def _chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def entries_table(kind: str):
    """The ``entry`` table for ``user`` entries, ``system_entry`` for ``system``."""
    return entry if kind == "user" else system_entry


# -- registers -----------------------------------------------------------------


async def get_register(session: AsyncSession, name: str, *, lock: bool = False):
    """The ``register`` row named ``name``, or ``None``; ``lock`` takes it FOR UPDATE
    (PostgreSQL; SQLite writers are serialised by ``BEGIN IMMEDIATE``)."""
    query = select(register).where(register.c.name == name)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def insert_register(session: AsyncSession, name: str, now) -> int:
    """Create an empty register; returns its id."""
    result = await session.execute(
        register.insert().values(
            name=name, tree_size=0, total_records=0, system_entries=0, created_at=now
        )
    )
    return result.inserted_primary_key[0]


async def list_registers(session: AsyncSession, *, after: str = "", limit: int = 1000):
    """Registers ordered by name, after ``after``."""
    query = select(register).where(register.c.name > after).order_by(register.c.name).limit(limit)
    return (await session.execute(query)).all()


async def update_register(session: AsyncSession, register_id: int, **values) -> None:
    """Set counters of a register (``tree_size``, ``total_records``, ...)."""
    await session.execute(update(register).where(register.c.id == register_id).values(**values))


# -- tree ------------------------------------------------------------------------


async def get_nodes(
    session: AsyncSession, register_id: int, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored perfect subtrees at ``positions`` (``(level, index)``), one query per chunk."""
    found: dict[tuple[int, int], bytes] = {}
    ids = {merkle.node_id(level, index): (level, index) for level, index in positions}
    for chunk in _chunks(list(ids)):
        rows = await session.execute(
            select(tree_node.c.node_id, tree_node.c.hash).where(
                tree_node.c.register_id == register_id, tree_node.c.node_id.in_(chunk)
            )
        )
        for node, digest in rows:
            found[ids[node]] = digest
    return found


def node_rows(register_id: int, nodes: Sequence[tuple[int, int, bytes]]) -> list[tuple]:
    """``tree_node`` rows for new perfect subtrees ``(level, index, hash)``."""
    shift = merkle.LEVEL_SHIFT
    return [(register_id, (lv << shift) | ix, h) for lv, ix, h in nodes]


async def insert_nodes_rows(session: AsyncSession, rows: Sequence[tuple]) -> None:
    """Store :func:`node_rows`."""
    await bulk_insert(session, tree_node, ("register_id", "node_id", "hash"), rows)


# -- entries and items -------------------------------------------------------------


async def insert_entries(session: AsyncSession, kind: str, rows: Sequence[tuple]) -> None:
    """Append entry rows (tuples of :data:`ENTRY_COLUMNS`)."""
    await bulk_insert(session, entries_table(kind), ENTRY_COLUMNS, rows)


async def get_entries(
    session: AsyncSession, register_id: int, start: int, stop: int, kind: str = "user"
):
    """Entries numbered ``start`` to ``stop - 1``, ascending."""
    table = entries_table(kind)
    query = (
        select(table)
        .where(
            table.c.register_id == register_id,
            table.c.entry_number >= start,
            table.c.entry_number < stop,
        )
        .order_by(table.c.entry_number)
    )
    return (await session.execute(query)).all()


async def get_entries_by_number(session: AsyncSession, register_id: int, numbers: Sequence[int]):
    """User entries with these numbers, by number."""
    found = {}
    for chunk in _chunks(list(numbers)):
        rows = await session.execute(
            select(entry).where(entry.c.register_id == register_id, entry.c.entry_number.in_(chunk))
        )
        for row in rows:
            found[row.entry_number] = row
    return found


async def entries_for_key(session: AsyncSession, register_id: int, key: str, kind: str = "user"):
    """Every entry of one key, ascending."""
    table = entries_table(kind)
    query = (
        select(table)
        .where(table.c.register_id == register_id, table.c.key == key)
        .order_by(table.c.entry_number)
    )
    return (await session.execute(query)).all()


async def latest_system_entries(session: AsyncSession, register_id: int):
    """The latest system entry of each key (the register's current metadata)."""
    latest = (
        select(func.max(system_entry.c.entry_number))
        .where(system_entry.c.register_id == register_id)
        .group_by(system_entry.c.key)
    )
    query = (
        select(system_entry)
        .where(system_entry.c.register_id == register_id, system_entry.c.entry_number.in_(latest))
        .order_by(system_entry.c.entry_number)
    )
    return (await session.execute(query)).all()


async def find_items(
    session: AsyncSession, register_id: int, digests: Iterable[bytes]
) -> dict[bytes, str]:
    """Canonical JSON of the items with these digests that the register has."""
    found: dict[bytes, str] = {}
    wanted = list(dict.fromkeys(digests))
    for chunk in _chunks(wanted):
        rows = await session.execute(
            select(item.c.digest, item.c.content).where(
                item.c.register_id == register_id, item.c.digest.in_(chunk)
            )
        )
        found.update({bytes(d): c for d, c in rows})
    return found


async def insert_items(session: AsyncSession, rows: Sequence[tuple]) -> None:
    """Store items (tuples of :data:`ITEM_COLUMNS`); those the register has are skipped."""
    await bulk_insert(session, item, ITEM_COLUMNS, rows, skip_existing=True)


# -- records -------------------------------------------------------------------------


async def find_records(
    session: AsyncSession, register_id: int, keys: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """``key -> (position, entry_number)`` of the existing records among ``keys``."""
    found: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(list(keys)):
        rows = await session.execute(
            select(record.c.key, record.c.position, record.c.entry_number).where(
                record.c.register_id == register_id, record.c.key.in_(chunk)
            )
        )
        found.update({k: (p, n) for k, p, n in rows})
    return found


async def insert_records(session: AsyncSession, rows: Sequence[tuple]) -> None:
    """New records (tuples of :data:`RECORD_COLUMNS`)."""
    await bulk_insert(session, record, RECORD_COLUMNS, rows)


async def move_records(session: AsyncSession, register_id: int, moves: Sequence[tuple]) -> None:
    """Point existing records at their new latest entry: ``(key, entry_number)`` pairs."""
    if moves:
        await session.execute(
            update(record)
            .where(record.c.register_id == register_id, record.c.key == bindparam("k"))
            .values(entry_number=bindparam("n")),
            [{"k": k, "n": n} for k, n in moves],
        )


async def replace_record_values(
    session: AsyncSession,
    register_id: int,
    stale_positions: Sequence[int],
    rows: Sequence[tuple],
) -> None:
    """Forget the values of records at ``stale_positions``, then store ``rows`` (tuples of
    :data:`VALUE_COLUMNS`)."""
    for chunk in _chunks(list(stale_positions)):
        await session.execute(
            record_value.delete().where(
                record_value.c.register_id == register_id, record_value.c.position.in_(chunk)
            )
        )
    await bulk_insert(session, record_value, VALUE_COLUMNS, rows)


def _records_with_entries(register_id: int, *conditions):
    """``(key, position, entry row)`` of the records meeting ``conditions``, by position."""
    return (
        select(record.c.key, record.c.position, entry)
        .join(
            entry,
            (entry.c.register_id == record.c.register_id)
            & (entry.c.entry_number == record.c.entry_number),
        )
        .where(record.c.register_id == register_id, *conditions)
        .order_by(record.c.position)
    )


async def records_page(session: AsyncSession, register_id: int, first: int, last: int):
    """``(key, position, entry row)`` of the records at positions ``first..last``."""
    query = _records_with_entries(
        register_id, record.c.position >= first, record.c.position <= last
    )
    return (await session.execute(query)).all()


async def record_by_key(session: AsyncSession, register_id: int, key: str):
    """The entry row of the record ``key``'s latest entry, or ``None``."""
    query = (
        select(entry)
        .join(
            record,
            (entry.c.register_id == record.c.register_id)
            & (entry.c.entry_number == record.c.entry_number),
        )
        .where(record.c.register_id == register_id, record.c.key == key)
    )
    return (await session.execute(query)).first()


async def positions_with_value(
    session: AsyncSession, register_id: int, digest: bytes, offset: int, limit: int
) -> list[int]:
    """Positions of the records with a (field, value) digest, ascending, one page."""
    rows = await session.execute(
        select(record_value.c.position)
        .where(record_value.c.register_id == register_id, record_value.c.digest == digest)
        .order_by(record_value.c.position)
        .offset(offset)
        .limit(limit)
    )
    return [p for (p,) in rows]


async def records_at_positions(session: AsyncSession, register_id: int, positions: Sequence[int]):
    """``(key, position, entry row)`` of the records at these positions, by position."""
    if not positions:
        return []
    query = _records_with_entries(register_id, record.c.position.in_(list(positions)))
    return (await session.execute(query)).all()


# -- tree heads, keys, requests --------------------------------------------------------


async def insert_tree_head(session: AsyncSession, **values) -> None:
    """Store a signed tree head (``register_id, tree_size, root_hash, timestamp, note``)."""
    await session.execute(tree_head.insert().values(**values))


async def latest_tree_head(session: AsyncSession, register_id: int):
    """The register's latest tree head, or ``None``."""
    query = (
        select(tree_head)
        .where(tree_head.c.register_id == register_id)
        .order_by(tree_head.c.tree_size.desc())
        .limit(1)
    )
    return (await session.execute(query)).first()


async def tree_heads(session: AsyncSession, register_id: int):
    """Every tree head of the register, by size."""
    query = (
        select(tree_head)
        .where(tree_head.c.register_id == register_id)
        .order_by(tree_head.c.tree_size)
    )
    return (await session.execute(query)).all()


async def tree_head_at(session: AsyncSession, register_id: int, size: int):
    """The tree head of one size, or ``None``."""
    query = select(tree_head).where(
        tree_head.c.register_id == register_id, tree_head.c.tree_size == size
    )
    return (await session.execute(query)).first()


async def get_signing_key(session: AsyncSession):
    """The stored checkpoint key ``(name, private_key)``, or ``None``."""
    return (await session.execute(select(signing_key).limit(1))).first()


async def insert_signing_key(session: AsyncSession, name: str, private_key: bytes, now) -> None:
    """Store the generated checkpoint key."""
    await session.execute(
        signing_key.insert().values(name=name, private_key=private_key, created_at=now)
    )


async def get_append_request(session: AsyncSession, register_id: int, request_id: str):
    """A recorded ``AppendEntries`` request, or ``None``."""
    query = select(append_request).where(
        append_request.c.register_id == register_id, append_request.c.request_id == request_id
    )
    return (await session.execute(query)).first()


async def insert_append_request(session: AsyncSession, **values) -> None:
    """Record an ``AppendEntries`` request id and what it appended."""
    await session.execute(append_request.insert().values(**values))
