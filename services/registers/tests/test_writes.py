"""Appending: RSF and JSON batches are atomic, validated line by line, and refused in
OpenRegister's error format with the line and the reason."""

from __future__ import annotations

import json

import pytest

from registers import hashing
from registers.datatypes import FieldDefinition, check_value

THING_FIELDS = [
    FieldDefinition("thing", "string"),
    FieldDefinition("count", "integer"),
    FieldDefinition("when", "datetime"),
    FieldDefinition("link", "url"),
    FieldDefinition("ref", "curie"),
    FieldDefinition("span", "period"),
    FieldDefinition("at", "point"),
    FieldDefinition("area", "polygon"),
    FieldDefinition("digest", "hash"),
    FieldDefinition("tags", "string", cardinality="n"),
    FieldDefinition("notes", "text"),
]
RSF = "application/uk-gov-rsf"
T = "2020-01-01T00:00:00Z"


def add(item: dict) -> tuple[str, str]:
    canonical = hashing.canonical_json(item)
    return f"add-item\t{canonical}", hashing.format_hash(hashing.item_digest(canonical))


def entry(key: str, digest: str, timestamp: str = T, kind: str = "user") -> str:
    return f"append-entry\t{kind}\t{key}\t{timestamp}\t{digest}"


def pair(key: str, **fields) -> list[str]:
    line, digest = add({"thing": key, **fields})
    return [line, entry(key, digest)]


@pytest.fixture
async def things(registers):
    await registers.define("thing", THING_FIELDS)
    return registers


async def post_rsf(registers, text, *, scope="registers:write:thing", content_type=RSF):
    body = text if isinstance(text, bytes) else text.encode()
    headers = {"Content-Type": content_type}
    if scope:
        headers.update(registers.principal(scope))
    async with registers.http() as http:
        return await http.post("/registers/thing/load-rsf", content=body, headers=headers)


async def total_entries(registers) -> int:
    async with registers.http() as http:
        return (await http.get("/registers/thing/register")).json()["total-entries"]


GOOD = pair("a", count="12", when="2020-02-29", link="https://example.org/x", ref="thing:b",
            span="P1Y2M", at="[-0.1276, 51.5072]", area="[[[0,0],[1,0],[1,1],[0,0]]]",
            digest="sha-256:" + "0" * 64, tags=["x", "y"], notes="*Markdown*")  # fmt: skip

BAD_BATCHES = {
    "unknown command": (["frobnicate\tx"], 400, 1, "INVALID_RSF"),
    "non-canonical JSON": (['add-item\t{"thing": "a"}', entry("a", "sha-256:" + "1" * 64)], 400, 1, "INVALID_RSF"),
    "JSON that is not an object": (["add-item\t[1,2]"], 400, 1, "INVALID_RSF"),
    "a number value": (['add-item\t{"count":12,"thing":"a"}'], 400, 1, "INVALID_RSF"),
    "unknown field": (pair("a", colour="red"), 400, 1, "INVALID_ITEM"),
    "missing key field": ([add({"count": "1"})[0]], 400, 1, "INVALID_ITEM"),
    "bad integer": (pair("a", count="012"), 400, 1, "INVALID_ITEM"),
    "bad datetime": (pair("a", when="2021-02-29"), 400, 1, "INVALID_ITEM"),
    "bad url": (pair("a", link="not a url"), 400, 1, "INVALID_ITEM"),
    "bad curie": (pair("a", ref="a:b:c"), 400, 1, "INVALID_ITEM"),
    "bad period": (pair("a", span="P"), 400, 1, "INVALID_ITEM"),
    "bad point": (pair("a", at="[1]"), 400, 1, "INVALID_ITEM"),
    "bad polygon": (pair("a", area="[[[0,0],[1,1]]]"), 400, 1, "INVALID_ITEM"),
    "bad hash": (pair("a", digest="sha-256:XYZ"), 400, 1, "INVALID_ITEM"),
    "cardinality n needs a list": (pair("a", tags="x"), 400, 1, "INVALID_ITEM"),
    "an empty list": (pair("a", tags=[]), 400, 1, "INVALID_ITEM"),
    "too many items": ([entry("a", ";".join(["sha-256:" + "4" * 64] * 101))], 400, 1, "INVALID_RSF"),
    "cardinality 1 needs a string": (pair("a", notes=["x"]), 400, 1, "INVALID_ITEM"),
    "empty value": (pair("a", notes=""), 400, 1, "INVALID_ITEM"),
    "bad key": ([add({"thing": "a..b"})[0], entry("a..b", add({"thing": "a..b"})[1])], 400, 2, "INVALID_RSF"),
    "bad timestamp": ([add({"thing": "a"})[0], entry("a", add({"thing": "a"})[1], "2020-01-01 00:00:00")], 400, 2, "INVALID_RSF"),
    "impossible timestamp": ([add({"thing": "a"})[0], entry("a", add({"thing": "a"})[1], "2020-13-01T00:00:00Z")], 400, 2, "INVALID_RSF"),
    "bad entry type": ([add({"thing": "a"})[0], entry("a", add({"thing": "a"})[1], kind="admin")], 400, 2, "INVALID_RSF"),
    "orphan entry": ([entry("a", "sha-256:" + "2" * 64)], 400, 1, "ORPHAN_ENTRY"),
    "orphan item": ([*GOOD, add({"thing": "z"})[0]], 400, 3, "ORPHAN_ITEM"),
    "key not the item's": ([add({"thing": "a"})[0], entry("b", add({"thing": "a"})[1])], 400, 2, "KEY_MISMATCH"),
    "wrong root hash": ([*GOOD, "assert-root-hash\tsha-256:" + "3" * 64], 409, 3, "ROOT_HASH_MISMATCH"),
    "malformed root hash": (["assert-root-hash\tsha-256:abc"], 400, 1, "INVALID_RSF"),
    "a system entry": ([add({"thing": "a"})[0], entry("custodian", add({"thing": "a"})[1], kind="system")], 400, 2, "SYSTEM_ENTRY_REFUSED"),
    "a bad line after good ones": ([*GOOD, *pair("b"), "add-item\t{"], 400, 5, "INVALID_RSF"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_BATCHES))
async def test_a_bad_rsf_line_is_refused_with_its_number_and_nothing_is_kept(things, case):
    lines, status, line, reason = BAD_BATCHES[case]
    answer = await post_rsf(things, "\n".join(lines) + "\n")
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == status and body["line"] == line and body["reason"] == reason
    assert (
        f"line {line}:" in body["message"] and "nothing from this batch was kept" in body["message"]
    )
    assert await total_entries(things) == 0


async def test_a_valid_rsf_batch_with_every_datatype_and_a_root_assertion_is_appended(things):
    first = await post_rsf(things, "\n".join(GOOD))
    root = first.json()["root-hash"]
    second = await post_rsf(things, "\n".join([f"assert-root-hash\t{root}", *pair("b")]))
    assert first.status_code == second.status_code == 200, second.text
    assert second.json()["success"] is True and second.json()["total-entries"] == 2
    again = await post_rsf(things, "\n".join([f"assert-root-hash\t{root}", *pair("c")]))
    assert again.status_code == 409 and await total_entries(things) == 2


async def test_bytes_that_are_not_utf8_are_refused_with_the_line(things):
    answer = await post_rsf(things, "\n".join(GOOD).encode() + b'\nadd-item\t{"thing":"\xff"}\n')
    assert answer.status_code == 400 and answer.json()["line"] == 3
    assert "UTF-8" in answer.json()["message"]


async def test_a_line_over_a_mebibyte_is_refused(things):
    answer = await post_rsf(things, "add-item\t" + "x" * (1024 * 1024 + 10))
    assert answer.status_code == 400 and answer.json()["reason"] == "LINE_TOO_LONG"


async def test_writes_need_a_principal_with_the_registers_scope_and_the_rsf_type(things):
    missing = await post_rsf(things, "\n".join(GOOD), scope=None)
    wrong = await post_rsf(things, "\n".join(GOOD), scope="registers:write:country")
    typed = await post_rsf(things, "\n".join(GOOD), content_type="text/plain")
    assert (missing.status_code, wrong.status_code, typed.status_code) == (401, 403, 415)
    assert all(a.json()["code"] == a.status_code for a in (missing, wrong, typed))
    assert await total_entries(things) == 0


async def post_json(registers, body, content_type="application/json", name="thing"):
    headers = {"Content-Type": content_type, **registers.principal(f"registers:write:{name}")}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with registers.http() as http:
        return await http.post(f"/registers/{name}/entries", content=data, headers=headers)


async def test_json_entries_are_canonicalised_hashed_and_appended_atomically(things):
    answer = await post_json(
        things,
        {"entries": [{"key": "a", "item": {"thing": "a", "tags": ["p", "q"]}},
                     {"key": "b", "items": [{"thing": "b", "count": "3"}]}]},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    entries = answer.json()["entries"]
    assert [e["entry-number"] for e in entries] == ["1", "2"]
    expected = hashing.item_digest('{"tags":["p","q"],"thing":"a"}').hex()
    assert entries[0]["item-hash"] == [f"sha-256:{expected}"]
    stale = await post_json(
        things,
        {
            "entries": [{"key": "c", "item": {"thing": "c"}}],
            "assert-root-hash": "sha-256:" + "0" * 64,
        },
    )
    assert stale.status_code == 409 and await total_entries(things) == 2


BAD_JSON = {
    "not JSON": (b"{", 400),
    "not UTF-8": (b'{"entries": [{"key": "\xff"}]}', 400),
    "no entries": ({"entries": []}, 400),
    "not a list": ({"entries": {"key": "a"}}, 400),
    "unknown member": ({"entries": [], "extra": 1}, 400),
    "entry without key": ({"entries": [{"item": {"thing": "a"}}]}, 400),
    "both item and items": ({"entries": [{"key": "a", "item": {}, "items": []}]}, 400),
    "item not an object": ({"entries": [{"key": "a", "item": "thing"}]}, 400),
    "nested value": ({"entries": [{"key": "a", "item": {"thing": {"x": "y"}}}]}, 400),
    "bad key": ({"entries": [{"key": "-a", "item": {"thing": "-a"}}]}, 400),
    "no items": ({"entries": [{"key": "a", "items": []}]}, 400),
    "second entry bad": ({"entries": [{"key": "a", "item": {"thing": "a"}}, {"key": "b", "item": {"thing": "b", "count": "x"}}]}, 400),
    "bad root hash": ({"entries": [{"key": "a", "item": {"thing": "a"}}], "assert-root-hash": 5}, 400),
    "deeply nested": (b"[" * 100_000, 400),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_JSON))
async def test_a_bad_json_append_is_refused_in_openregisters_format(things, case):
    body, status = BAD_JSON[case]
    answer = await post_json(things, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == status and answer.json()["message"]
    assert await total_entries(things) == 0


async def test_json_appends_need_the_json_content_type_and_an_existing_register(things):
    typed = await post_json(things, {"entries": []}, content_type="text/plain")
    missing = await post_json(
        things, {"entries": [{"key": "a", "item": {"nowhere": "a"}}]}, name="nowhere"
    )
    assert typed.status_code == 415 and missing.status_code == 404


VALUES = {
    "integer": (["0", "-7", "42"], ["01", "1.0", "", "x", "--1"]),
    "datetime": (["2020", "2020-02", "2020-02-29", "2020-02-29T23:59:59", "2020-02-29T23:59:59Z"],
                 ["2021-02-29", "20", "2020-1-1", "2020-01-01T24:00:00", "2020-01-01T00:00"]),
    "url": (["https://example.org/a?b=c", "http://127.0.0.1:8000/"], ["example.org", "https://", " http://a.b"]),
    "curie": (["country:GB"], ["GB", "a:b:c", ":GB", "country:"]),
    "period": (["P1Y", "PT1H30M", "2020-01-01/2020-12-31", "2020-01-01/P1M", "P1D/2020-01-01"],
               ["P", "PT", "1Y", "2020-01-01/", "P1D/P2D"]),
    "point": (["[1, 2]", "[-0.12, 51.5]"], ["[1]", "1,2", "[a, b]"]),
    "polygon": (["[[[0,0],[1,0],[1,1],[0,0]]]"], ["[]", "[[[0,0],[1,0],[0,0]]]", "[[[0,0],[1,0],[1,1],[0,1]]]", "x"]),
    "hash": (["sha-256:" + "a" * 64], ["sha-256:" + "A" * 64, "sha-1:" + "a" * 40]),
}  # fmt: skip


@pytest.mark.parametrize("datatype", list(VALUES))
def test_values_are_checked_against_their_datatype(datatype):
    good, bad = VALUES[datatype]
    field = FieldDefinition("f", datatype)
    assert [check_value(field, v) for v in good] == [None] * len(good)
    assert all(check_value(field, v) is not None for v in bad)


def test_a_bare_curie_is_accepted_only_for_a_field_that_links_to_a_register():
    assert check_value(FieldDefinition("f", "curie", register="country"), "GB") is None
    assert check_value(FieldDefinition("f", "curie"), "GB") is not None
