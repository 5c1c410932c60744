"""Database access of the registers service (SQLAlchemy Core on the caller's session).

Every function takes the session of the transaction its caller (the service layer)
opened. Bulk writes are given column by column (:func:`insert_columns`): one
``INSERT ... SELECT`` from ``json_each`` on SQLite, an ``executemany`` elsewhere;
reads that need many rows by key (items of a page, the nodes of a proof) are one
``IN`` query each, in chunks of :data:`CHUNK` parameters (:data:`SQLITE_PARAMETERS`
for records on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import NamedTuple

import orjson
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
#: Parameters per ``IN`` list where one round trip matters (SQLite's limit is 32766
#: since 3.32).
SQLITE_PARAMETERS = 32000


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


class Same(NamedTuple):
    """A column's value in every row (for :func:`insert_columns`)."""

    value: object


class Packed(NamedTuple):
    """A bytes column's values back to back (for :func:`insert_columns`): each ``width``
    bytes long, or each ending at its offset in ``ends``."""

    data: bytes
    width: int = 0
    ends: Sequence[int] = ()

    def values(self) -> list[bytes]:
        """The values, one by one."""
        if self.width:
            return [self.data[i : i + self.width] for i in range(0, len(self.data), self.width)]
        starts = [0, *self.ends[:-1]]
        return [self.data[a:b] for a, b in zip(starts, self.ends, strict=True)]


#: A column for :func:`insert_columns`: a list of values, packed bytes, or one value.
Column = Sequence | Packed | Same
_SQLITE_INSERTS: dict[tuple, str] = {}


async def insert_columns(
    session: AsyncSession, table, columns: dict[str, Column], *, skip_existing: bool = False
) -> None:
    """Insert rows given column by column: each column a list of values (int, str or
    ``None``), :class:`Packed` bytes or :class:`Same` value; at least one a list, all
    of the same length. Values must already be in the driver's types (naive UTC
    datetimes on SQLite). ``skip_existing``: rows whose primary key is already there
    are left out (``ON CONFLICT DO NOTHING``: SQLite and PostgreSQL).

    On SQLite all the rows are one ``INSERT ... SELECT`` whatever their number: the
    lists go as one JSON array (of arrays when there are several) that ``json_each``
    reads, packed bytes as blobs that ``substr`` cuts. SQLite then inserts every row
    with Python's lock released and in one round trip to aiosqlite's thread (an
    ``executemany`` takes the lock back for each row, and costs three round trips
    through SQLAlchemy), and the statement's text, so its prepared form, does not
    depend on the number of rows. Elsewhere (PostgreSQL) the rows are made and sent
    by :func:`bulk_insert`.
    """
    lists = [c for c in columns.values() if not isinstance(c, Packed | Same)]
    if not lists or not len(lists[0]):
        return
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        made = [
            repeat(c.value) if isinstance(c, Same) else c.values() if isinstance(c, Packed) else c
            for c in columns.values()
        ]
        rows = list(zip(*made, strict=False))
        await bulk_insert(session, table, tuple(columns), rows, skip_existing=skip_existing)
        return
    params: list = []
    json_columns: list[Sequence] = []
    shape = []  # (column, expression), the JSON values numbered
    for name, column in columns.items():
        if isinstance(column, Same):
            params.append(column.value)
            shape.append((name, f"?{len(params)}"))
        elif isinstance(column, Packed) and column.width:
            params.append(column.data)
            w = column.width
            shape.append((name, f"substr(?{len(params)}, j.key * {w} + 1, {w})"))
        elif isinstance(column, Packed):
            params.append(column.data)
            ends = column.ends
            json_columns += [
                [0, *ends[:-1]],
                [b - a for a, b in zip([0, *ends], ends, strict=False)],
            ]
            start, length = len(json_columns) - 2, len(json_columns) - 1
            shape.append((name, f"substr(?{len(params)}, {{{start}}} + 1, {{{length}}})"))
        else:
            json_columns.append(column)
            shape.append((name, f"{{{len(json_columns) - 1}}}"))
    key = (table.name, skip_existing, len(json_columns), tuple(shape))
    sql = _SQLITE_INSERTS.get(key)
    if sql is None:
        one = len(json_columns) == 1
        values = ["j.value" if one else f"(j.value ->> {i})" for i in range(len(json_columns))]
        sql = (
            f'INSERT INTO "{table.name}" ({", ".join(f"{chr(34)}{n}{chr(34)}" for n, _ in shape)}) '
            f"SELECT {', '.join(e.format(*values) for _, e in shape)} "
            f"FROM json_each(?{len(params) + 1}) AS j WHERE true ORDER BY j.key"
            + (" ON CONFLICT DO NOTHING" if skip_existing else "")
        )
        _SQLITE_INSERTS[key] = sql
    if len(json_columns) == 1:
        params.append(orjson.dumps(list(json_columns[0])))
    else:
        params.append(orjson.dumps(list(zip(*json_columns, strict=True))))
    await (await _sqlite_driver(connection)).execute_fetchall(sql, params)


async def _sqlite_driver(connection):
    """The aiosqlite connection under ``connection`` (an ``AsyncConnection`` on SQLite)."""
    return (await connection.get_raw_connection()).driver_connection


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


async def insert_nodes(
    session: AsyncSession, register_id: int, node_ids: Sequence[int], hashes: Packed
) -> None:
    """Store new perfect subtrees: their :func:`merkle.node_id` and their 32-byte hashes."""
    await insert_columns(
        session,
        tree_node,
        {"register_id": Same(register_id), "node_id": node_ids, "hash": hashes},
    )


# -- entries and items -------------------------------------------------------------


async def insert_entries(
    session: AsyncSession,
    kind: str,
    register_id: int,
    numbers: Sequence[int],
    keys: Sequence[str],
    timestamps: Sequence[str],
    item_digests: Packed,
) -> None:
    """Append entries, column by column (each entry's item digests back to back)."""
    columns = {
        "register_id": Same(register_id),
        "entry_number": numbers,
        "key": keys,
        "timestamp": timestamps,
        "item_digests": item_digests,
    }
    await insert_columns(session, entries_table(kind), columns)


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


async def insert_items(
    session: AsyncSession, register_id: int, digests: Packed, contents: Sequence[str]
) -> None:
    """Store items (32-byte digests, canonical JSON); those the register has are skipped."""
    columns = {"register_id": Same(register_id), "digest": digests, "content": contents}
    await insert_columns(session, item, columns, skip_existing=True)


# -- records -------------------------------------------------------------------------


async def find_records(
    session: AsyncSession, register_id: int, keys: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """``key -> (position, entry_number)`` of the existing records among ``keys``."""
    found: dict[str, tuple[int, int]] = {}
    connection = await session.connection()
    if keys and connection.dialect.name == "sqlite":  # one round trip per 32,000 keys
        driver = await _sqlite_driver(connection)
        for chunk in _chunks(list(keys), SQLITE_PARAMETERS - 1):
            rows = await driver.execute_fetchall(
                'SELECT "key", position, entry_number FROM record WHERE register_id = ? '
                f'AND "key" IN ({",".join("?" * len(chunk))})',
                (register_id, *chunk),
            )
            found.update({k: (p, n) for k, p, n in rows})
        return found
    for chunk in _chunks(list(keys)):
        rows = await session.execute(
            select(record.c.key, record.c.position, record.c.entry_number).where(
                record.c.register_id == register_id, record.c.key.in_(chunk)
            )
        )
        found.update({k: (p, n) for k, p, n in rows})
    return found


async def insert_records(
    session: AsyncSession,
    register_id: int,
    keys: Sequence[str],
    positions: Sequence[int],
    numbers: Sequence[int],
) -> None:
    """New records: their keys, positions and latest entry numbers."""
    columns = {
        "register_id": Same(register_id),
        "key": keys,
        "position": positions,
        "entry_number": numbers,
    }
    await insert_columns(session, record, columns)


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
    digests: Packed,
    positions: Sequence[int],
) -> None:
    """Forget the values of records at ``stale_positions``, then store values: their
    16-byte digests and their records' positions."""
    for chunk in _chunks(list(stale_positions)):
        await session.execute(
            record_value.delete().where(
                record_value.c.register_id == register_id, record_value.c.position.in_(chunk)
            )
        )
    columns = {"register_id": Same(register_id), "digest": digests, "position": positions}
    await insert_columns(session, record_value, columns)


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
