"""Bulk loads: the fast readings of RSF agree with the general rules, a load written in
many small chunks (items read back, the item cache restarted) appends exactly what one
chunk would, and every entry's EntryAppended event carries the root at its size."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from govplat.registers.v1 import events_pb2
from registers import events, hashing, merkle, rsf
from registers.datatypes import FieldDefinition
from registers.service import appending
from registers.service.appending import batch as batches

# Characters that JSON escapes, non-ASCII ones on both sides of the surrogates (UTF-16
# would sort U+E000 after U+10000; code points sort it before) and plain ones.
TEXT = st.text(
    alphabet=st.sampled_from(
        ['"', "\\", "/", "\x00", "\x1f", "\n", "\t", "\x7f", "é", "\u2028", "\ue000",
         "\U0001f600", "a", "b", "Z", " ", ":", ","]
    ),
    max_size=6,
)  # fmt: skip
ITEMS = st.dictionaries(TEXT, TEXT | st.lists(TEXT, max_size=3), max_size=4)


def reference_reading(text: str):
    """RSF's rule for add-item, as openregister-java states it: the item parsed, written
    canonically, must be the text itself; (item, text) or the refusal's message."""
    try:
        item = json.loads(text)
        canonical = hashing.canonical_json(item)
    except (ValueError, hashing.ItemError) as exc:
        return type(exc).__name__
    return (item, canonical) if canonical == text else "not canonical"


def reading(text: str):
    try:
        return hashing.parse_canonical_item(text)
    except hashing.ItemError:
        return "refused"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(ITEMS, st.sampled_from(["canonical", "unsorted", "spaced", "ascii", "upper"]))
def test_an_rsf_item_is_canonical_exactly_when_the_canonical_writer_would_write_it(item, form):
    if form == "unsorted":
        text = json.dumps(dict(reversed(item.items())), separators=(",", ":"), ensure_ascii=False)
    elif form == "spaced":
        text = json.dumps(item, sort_keys=True, ensure_ascii=False)
    elif form == "ascii":
        text = json.dumps(item, sort_keys=True, separators=(",", ":"))
    elif form == "upper":
        text = hashing.canonical_json(item).upper()
    else:
        text = hashing.canonical_json(item)
    expected = reference_reading(text)
    if isinstance(expected, tuple):
        assert reading(text) == expected
    else:
        assert reading(text) == "refused"


def test_items_that_only_the_lenient_parser_reads_are_refused_as_before():
    for text in ['{"a":NaN}', '{"a":"\\ud800"}', '{"a":1}', '{"a":"x","a":"y"}', '{"a":"\\u001F"}']:
        expected = reference_reading(text)
        assert (
            (reading(text) == expected)
            if isinstance(expected, tuple)
            else reading(text) == "refused"
        )
    assert reading('{"a":"\\u001F"}') == ({"a": "\x1f"}, '{"a":"\\u001F"}')


ARGUMENT = st.sampled_from(
    ["a", "A1", "a-b", "a--b", "-a", "a.", "a/b", "a\n", "é", "a b", "x" * 256, "x" * 255,
     "2020-01-01T00:00:00Z", "2020-02-30T00:00:00Z", "2020-01-01T00:00:00Z\n",
     "2020-01-01T00:00:00", "٢٠٢٠-01-01T00:00:00Z", "sha-256:" + "a" * 64,
     "sha-256:" + "A" * 64, "sha-256:" + "a" * 63, "sha-256:" + "a" * 64 + "\n",
     "sha-256:" + "a" * 64 + ";sha-256:" + "b" * 64, ""]
)  # fmt: skip


def entry_reading(rest: str):
    try:
        return rsf.entry_arguments(rest)
    except rsf.RsfError as exc:
        return str(exc)


@settings(max_examples=600)
@given(ARGUMENT, ARGUMENT, ARGUMENT)
def test_a_user_entry_is_read_as_the_general_rules_read_its_older_three_argument_form(
    key, timestamp, hashes
):
    # The three-argument form is always read by the general rules.
    older = f"{key}\t{timestamp}\t{hashes}"
    assert entry_reading(f"user\t{older}") == entry_reading(older)


def test_event_ids_are_distinct_uuid7s_in_time_order():
    first, second = events.event_ids(3), events.event_ids(2000)
    ids = [uuid.UUID(i) for i in first + second]
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert [str(i) for i in ids] == first + second
    assert max(i.int >> 80 for i in ids[:3]) <= min(i.int >> 80 for i in ids[3:])


def test_an_outbox_row_carries_the_event_and_its_headers():
    digest = hashing.item_digest('{"k":"x"}')
    entries = [
        (7, "x", "2020-01-01T00:00:00Z", (hashing.format_hash(digest),), ('{"k":"x"}',), b"r" * 32),
        (8, "y", "2020-01-02T00:00:00Z", ("sha-256:" + "1" * 64, "sha-256:" + "2" * 64),
         ("{}", '{"a":"b"}'), b"s" * 32),
    ]  # fmt: skip
    rows = events.outbox_rows("k", iter(entries), 2, sqlite=True)
    assert rows.subject == "govplat.registers.v1.entry_appended"
    assert rows.created_at.tzinfo is None
    for new_id, payload, header, entry in zip(
        rows.ids, rows.payloads, rows.headers, entries, strict=True
    ):
        number, key, timestamp, hashes, items, root = entry
        expected = events.entry_appended("k", number, key, timestamp, hashes, items, number, root)
        assert payload == expected.SerializeToString()
        headers = json.loads(header)
        assert headers["ce-id"] == new_id
        assert headers["ce-subject"] == f"k/{number}"
        assert headers["ce-type"] == "govplat.registers.v1.EntryAppended"


THING = "thing"
T = "2020-01-01T00:00:00Z"
FIELDS = [
    FieldDefinition(THING, "string"),
    FieldDefinition("name", "string"),
    FieldDefinition("tags", "string", cardinality="n"),
]


def thing_rsf(first: int, last: int, *, items_first: bool) -> tuple[list[str], list[dict]]:
    """RSF of entries ``first`` to ``last`` over 100 keys (most keys get several entries),
    with tags of cardinality n, each item before its entry or all items first; and the
    items in entry order."""
    items, lines, entries = [], [], []
    for number in range(first, last + 1):
        key = f"k{number % 100}"
        item = {THING: key, "name": f"name {number % 5}", "tags": ["a", f"t{number % 2}", "a"]}
        canonical = hashing.canonical_json(item)
        digest = hashing.format_hash(hashing.item_digest(canonical))
        items.append(item)
        lines.append(f"add-item\t{canonical}")
        entries.append(f"append-entry\tuser\t{key}\t{T}\t{digest}")
    if items_first:
        return lines + entries, items
    return [line for pair in zip(lines, entries, strict=True) for line in pair], items


async def stream(texts):
    for text in texts:
        yield text


def tree_hash(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1's MTH, recursively (not the service's code)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + tree_hash(leaves[:k]) + tree_hash(leaves[k:])).digest()


@pytest.mark.parametrize("items_first", [False, True], ids=["interleaved", "items first"])
async def test_a_load_in_small_chunks_appends_every_entry_record_value_and_event(
    registers, monkeypatch, items_first
):
    await registers.define(THING, FIELDS)
    texts, items = thing_rsf(1, 100, items_first=False)
    await appending.load_rsf(registers.context, THING, stream(texts))
    # Chunks of a few entries, items read back from the database, the cache restarted.
    monkeypatch.setattr(batches, "FLUSH_EVERY", 7)
    monkeypatch.setattr(batches, "ITEM_CACHE", 10)
    texts, more = thing_rsf(101, 300, items_first=items_first)
    result = await appending.load_rsf(registers.context, THING, stream(texts))
    items += more
    assert result.tree_size == len(items)

    async with registers.http() as http:
        entries = (await http.get(f"/registers/{THING}/entries?limit=5000")).json()
        records = (await http.get(f"/registers/{THING}/records?page-size=5000")).json()
        tagged = (await http.get(f"/registers/{THING}/records/tags/t1?page-size=5000")).json()
    digests = [hashing.item_digest(hashing.canonical_json(item)) for item in items]
    assert [e["item-hash"] for e in entries] == [[hashing.format_hash(d)] for d in digests]
    latest = {item[THING]: (number, item) for number, item in enumerate(items, start=1)}
    assert {key: (int(r["entry-number"]), r["item"]) for key, r in records.items()} == {
        key: (number, [item]) for key, (number, item) in latest.items()
    }
    assert set(tagged) == {key for key, (_, item) in latest.items() if "t1" in item["tags"]}

    outbox = registers.context.tables.outbox
    async with registers.context.db.read() as session:
        query = select(outbox.c.payload).order_by(outbox.c.position)
        payloads = (await session.execute(query)).all()
    appended = [events_pb2.EntryAppended.FromString(bytes(p)) for (p,) in payloads]
    appended = [event for event in appended if event.register == THING]
    leaves = [
        merkle.leaf_hash(hashing.entry_leaf(number, T, item[THING], [digest]))
        for number, (item, digest) in enumerate(zip(items, digests, strict=True), start=1)
    ]
    assert [e.entry_number for e in appended] == list(range(1, len(items) + 1))
    for event, item, digest in zip(appended, items, digests, strict=True):
        assert event.tree_size == event.entry_number
        assert event.root_hash == tree_hash(leaves[: event.tree_size])
        assert list(event.items_json) == [hashing.canonical_json(item)]
        assert list(event.item_hashes) == [hashing.format_hash(digest)]
