"""Reading registers: the register, records, entries, items and downloads.

Values are returned in OpenRegister v1's JSON shapes (openregister-java views
``EntryView``, ``RecordView``, ``RegisterDetail``): entry numbers as strings,
timestamps ``YYYY-MM-DDThh:mm:ssZ``, ``item-hash`` an array, a record's ``item`` an
array of items. Pages are ranges of record positions or entry numbers, so any page
costs the same at any depth.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from registers import hashing, merkle, repository, rsf
from registers.datatypes import NAME
from registers.errors import bad_request, not_found
from registers.service import schema as schemas
from registers.service.appending import value_digest

MAX_PAGE_SIZE = 5000
DEFAULT_PAGE_SIZE = 100
#: Rows read per query while streaming a download.
DOWNLOAD_CHUNK = 2000


def _entry_fields(row) -> dict:
    number = str(row.entry_number)
    return {
        "index-entry-number": number,
        "entry-number": number,
        "entry-timestamp": row.timestamp,
        "key": row.key,
    }


def entry_json(row) -> dict:
    """An entry as OpenRegister v1 shows it (``/entries``)."""
    digests = hashing.split_digests(bytes(row.item_digests))
    return {**_entry_fields(row), "item-hash": [hashing.format_hash(d) for d in digests]}


def record_json(row, contents: dict[bytes, str]) -> dict:
    """A record: its latest entry without ``item-hash``, with ``item`` (a list of items)."""
    digests = hashing.split_digests(bytes(row.item_digests))
    return {**_entry_fields(row), "item": [json.loads(contents[d]) for d in digests]}


async def _contents(session: AsyncSession, register_id: int, rows) -> dict[bytes, str]:
    digests = [d for row in rows for d in hashing.split_digests(bytes(row.item_digests))]
    return await repository.find_items(session, register_id, digests)


@dataclass(frozen=True)
class Page:
    """One page of records (``records``: key → record) and whether more follow."""

    records: dict[str, dict]
    fields: list[str]
    has_next: bool


def check_page(page_index: int, page_size: int) -> None:
    """Refuse ``page-index`` below 1 and ``page-size`` outside 1..5000 (openregister-java)."""
    if page_index < 1:
        raise bad_request("page-index must be at least 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise bad_request(f"page-size must be between 1 and {MAX_PAGE_SIZE}")


async def register_info(session: AsyncSession, context, name: str) -> dict:
    """``GET /register``: the register's counts, last update and definition."""
    reg = await schemas.get_register_or_404(session, name)
    schema = await schemas.load_schema(session, context, reg)
    info = {
        "domain": context.public_url.split("://", 1)[-1],
        "total-records": reg.total_records,
        "total-entries": reg.tree_size,
        "register-record": schema.record,
    }
    if reg.last_updated:
        info["last-updated"] = reg.last_updated
    custodian = schema.system.get("custodian")
    if custodian:
        contents = await repository.find_items(session, reg.id, custodian)
        info["custodian"] = json.loads(contents[custodian[0]]).get("custodian", "")
    return info


async def list_registers(session: AsyncSession, context) -> list[dict]:
    """Every register: name, text, counts and links."""
    found = []
    for reg in await repository.list_registers(session):
        try:
            schema = await schemas.load_schema(session, context, reg)
        except Exception:  # a register whose definition is being written
            continue
        found.append(
            {
                "register": reg.name,
                "text": schema.record.get("text", ""),
                "total-records": reg.total_records,
                "total-entries": reg.tree_size,
                **({"last-updated": reg.last_updated} if reg.last_updated else {}),
                "url": context.register_url(reg.name),
            }
        )
    return found


async def records(
    session: AsyncSession, context, name: str, page_index: int, page_size: int
) -> Page:
    """``GET /records``: one page, in order of each record's first entry (stable while
    entries are appended, unlike GOV.UK's newest-first order).

    Raises:
        RegisterError: 400 for bad paging; 404 for a page past the last (page-index > 1).
    """
    check_page(page_index, page_size)
    reg = await schemas.get_register_or_404(session, name)
    schema = await schemas.load_schema(session, context, reg)
    first = (page_index - 1) * page_size + 1
    if page_index > 1 and first > reg.total_records:
        raise not_found("there are no records on this page", "PAGE_NOT_FOUND")
    rows = await repository.records_page(session, reg.id, first, first + page_size - 1)
    contents = await _contents(session, reg.id, rows)
    return Page(
        {row.key: record_json(row, contents) for row in rows},
        schema.field_names,
        first + page_size - 1 < reg.total_records,
    )


async def record(session: AsyncSession, context, name: str, key: str) -> tuple[dict, list[str]]:
    """``GET /records/{key}``: ``({key: record}, fields)``.

    Raises:
        RegisterError: 404 for an unknown key.
    """
    reg = await schemas.get_register_or_404(session, name)
    schema = await schemas.load_schema(session, context, reg)
    row = await repository.record_by_key(session, reg.id, key) if hashing.valid_key(key) else None
    if row is None:
        raise not_found(f"there is no record with the key {key[:80]!r}", "RECORD_NOT_FOUND")
    contents = await _contents(session, reg.id, [row])
    return {key: record_json(row, contents)}, schema.field_names


async def record_entries(session: AsyncSession, name: str, key: str) -> list[dict]:
    """``GET /records/{key}/entries``: every entry of the key, ascending.

    Raises:
        RegisterError: 404 when the key has none.
    """
    reg = await schemas.get_register_or_404(session, name)
    rows = await repository.entries_for_key(session, reg.id, key) if hashing.valid_key(key) else []
    if not rows:
        raise not_found(f"there is no record with the key {key[:80]!r}", "RECORD_NOT_FOUND")
    return [entry_json(row) for row in rows]


async def records_with_value(
    session: AsyncSession,
    context,
    name: str,
    field: str,
    value: str,
    page_index: int,
    page_size: int,
) -> Page:
    """``GET /records/{field}/{value}``: records whose current item has ``field == value``
    (any element, for a field of cardinality n), paged like ``/records``.

    Raises:
        RegisterError: 404 for a field the register does not have, or a page past the last.
    """
    check_page(page_index, page_size)
    reg = await schemas.get_register_or_404(session, name)
    schema = await schemas.load_schema(session, context, reg)
    if field not in schema.fields:
        raise not_found(f"the {name} register has no field {field[:64]!r}", "FIELD_NOT_FOUND")
    if field == name:  # the key field is the record's key
        if page_index > 1:
            raise not_found("there are no records on this page", "PAGE_NOT_FOUND")
        row = (
            await repository.record_by_key(session, reg.id, value)
            if hashing.valid_key(value)
            else None
        )
        rows = [] if row is None else [row]
        contents = await _contents(session, reg.id, rows)
        return Page({r.key: record_json(r, contents) for r in rows}, schema.field_names, False)
    offset = (page_index - 1) * page_size
    positions = await repository.positions_with_value(
        session, reg.id, value_digest(field, value), offset, page_size + 1
    )
    if page_index > 1 and not positions:
        raise not_found("there are no records on this page", "PAGE_NOT_FOUND")
    rows = await repository.records_at_positions(session, reg.id, positions[:page_size])
    contents = await _contents(session, reg.id, rows)
    return Page(
        {row.key: record_json(row, contents) for row in rows},
        schema.field_names,
        len(positions) > page_size,
    )


async def entries(
    session: AsyncSession, name: str, start: int, limit: int
) -> tuple[list[dict], int]:
    """``GET /entries?start=&limit=``: ``(entries, total entries)``.

    Raises:
        RegisterError: 400 for ``start`` < 1 or ``limit`` outside 1..5000; 404 for a
            start past the last entry (so that paging clients stop; an empty register
            answers ``[]`` at start 1).
    """
    if start < 1:
        raise bad_request("start must be at least 1")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise bad_request(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    reg = await schemas.get_register_or_404(session, name)
    if start > reg.tree_size and start > 1:
        raise not_found("there are no entries from this start", "PAGE_NOT_FOUND")
    rows = await repository.get_entries(session, reg.id, start, start + limit)
    return [entry_json(row) for row in rows], reg.tree_size


async def entry(session: AsyncSession, name: str, number: int) -> dict:
    """``GET /entries/{n}``: one entry.

    Raises:
        RegisterError: 404 when there is no such entry.
    """
    reg = await schemas.get_register_or_404(session, name)
    rows = await repository.get_entries(session, reg.id, number, number + 1) if number > 0 else []
    if not rows:
        raise not_found(f"there is no entry {number}", "ENTRY_NOT_FOUND")
    return entry_json(rows[0])


async def item(session: AsyncSession, context, name: str, item_hash: str) -> tuple[dict, list]:
    """``GET /items/sha-256:{hex}``: ``(item, fields)``.

    Raises:
        RegisterError: 400 for a malformed hash; 404 when the register has no such item.
    """
    try:
        digest = hashing.parse_hash(item_hash)
    except ValueError as exc:
        raise bad_request(str(exc), "INVALID_HASH") from None
    reg = await schemas.get_register_or_404(session, name)
    schema = await schemas.load_schema(session, context, reg)
    found = await repository.find_items(session, reg.id, [digest])
    if digest not in found:
        raise not_found(f"there is no item {item_hash}", "ITEM_NOT_FOUND")
    return json.loads(found[digest]), schema.field_names


async def _root(session: AsyncSession, register_id: int, size: int) -> bytes:
    def compute(get):
        return merkle.root_hash(get, size)

    nodes = await repository.get_nodes(session, register_id, merkle.plan(compute))
    return compute(lambda level, index: nodes[(level, index)])


async def download_rsf(
    session: AsyncSession, name: str, start: int | None = None, end: int | None = None
) -> AsyncIterator[str]:
    """``GET /download-rsf[/{start}[/{end}]]``: the register as RSF lines (openregister-java
    ``RSFCreator``). ``start`` and ``end`` are tree sizes: the RSF takes a copy of size
    ``start`` to size ``end`` (system items and entries are included from size 0).

    Raises:
        RegisterError: 400 unless ``0 <= start <= end <= total entries``.
    """
    reg = await schemas.get_register_or_404(session, name)
    total = reg.tree_size
    start = 0 if start is None else start
    end = total if end is None else end
    if not 0 <= start <= end <= total:
        raise bad_request(
            f"the sizes must satisfy 0 <= start <= end <= {total} (the total entries)"
        )
    return _rsf_lines(session, reg, start, end)


async def _rsf_lines(session: AsyncSession, reg, start: int, end: int) -> AsyncIterator[str]:
    yield rsf.assert_root_hash_line(await _root(session, reg.id, start))
    if start == end and start > 0:
        return
    system_rows = await repository.get_entries(session, reg.id, 1, reg.system_entries + 1, "system")
    if start == 0:
        async for line in _item_lines(session, reg.id, system_rows):
            yield line
    number = start + 1
    while number <= end:
        rows = await repository.get_entries(
            session, reg.id, number, min(end + 1, number + DOWNLOAD_CHUNK)
        )
        async for line in _item_lines(session, reg.id, rows):
            yield line
        number += DOWNLOAD_CHUNK
    if start == 0:
        for row in system_rows:
            yield _entry_line("system", row)
    number = start + 1
    while number <= end:
        rows = await repository.get_entries(
            session, reg.id, number, min(end + 1, number + DOWNLOAD_CHUNK)
        )
        for row in rows:
            yield _entry_line("user", row)
        number += DOWNLOAD_CHUNK
    yield rsf.assert_root_hash_line(await _root(session, reg.id, end))


async def _item_lines(
    session: AsyncSession, register_id: int, rows: Sequence
) -> AsyncIterator[str]:
    contents = await _contents(session, register_id, rows)
    seen: set[bytes] = set()
    for row in rows:
        for digest in hashing.split_digests(bytes(row.item_digests)):
            if digest not in seen:
                seen.add(digest)
                yield rsf.add_item_line(contents[digest])


def _entry_line(kind: str, row) -> str:
    return rsf.append_entry_line(
        kind, row.key, row.timestamp, hashing.split_digests(bytes(row.item_digests))
    )


def valid_name(name: str) -> bool:
    """Whether ``name`` can be a register's name."""
    return NAME.match(name) is not None
