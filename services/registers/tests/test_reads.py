"""The read API: paging with Link headers and 404 past the end, JSON and CSV, records
by field value, items, downloads, proofs' size checks, and refusals as OpenRegister's
JSON errors (never a 500)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from registers.datatypes import FieldDefinition
from registers.service import appending

FIELDS = [
    FieldDefinition("town", "string"),
    FieldDefinition("name", "string"),
    FieldDefinition("county", "string"),
    FieldDefinition("tags", "string", cardinality="n"),
]


@pytest.fixture
async def towns(registers):
    await registers.define("town", FIELDS)
    entries = [
        appending.NewEntry(
            f"t{i:02d}",
            [{"town": f"t{i:02d}", "name": f"Town {i}", "county": f"c{i % 3}", "tags": ["a", f"x{i % 2}"]}],
        )
        for i in range(25)
    ]  # fmt: skip
    await appending.append_entries(registers.context, "town", entries)
    await appending.append_entries(
        registers.context,
        "town",
        [appending.NewEntry("t00", [{"town": "t00", "name": "Renamed", "county": "c9"}])],
    )
    return registers


async def test_records_are_paged_with_link_headers_and_404_past_the_last_page(towns):
    async with towns.http() as http:
        first = await http.get("/registers/town/records?page-size=10")
        second = await http.get("/registers/town/records?page-index=2&page-size=10")
        last = await http.get("/registers/town/records?page-index=3&page-size=10")
        past = await http.get("/registers/town/records?page-index=4&page-size=10")
    assert list(first.json())[:2] == ["t00", "t01"] and len(first.json()) == 10
    assert first.headers["link"] == '<?page-index=2&page-size=10>; rel="next"'
    assert second.headers["link"] == (
        '<?page-index=3&page-size=10>; rel="next", <?page-index=1&page-size=10>; rel="previous"'
    )
    assert len(last.json()) == 5 and 'rel="next"' not in last.headers["link"]
    assert past.status_code == 404 and past.json() == {
        "code": 404,
        "message": "there are no records on this page",
    }
    assert first.json()["t00"]["item"] == [{"county": "c9", "name": "Renamed", "town": "t00"}]


async def test_entries_are_paged_by_start_and_limit_and_404_past_the_end(towns):
    async with towns.http() as http:
        page = await http.get("/registers/town/entries?start=21&limit=5")
        past = await http.get("/registers/town/entries?start=27")
        one = await http.get("/registers/town/entries/26")
        singular = await http.get("/registers/town/entry/26")
        missing = await http.get("/registers/town/entries/27")
    assert [e["entry-number"] for e in page.json()] == ["21", "22", "23", "24", "25"]
    assert page.headers["link"] == (
        '<?start=26&limit=5>; rel="next", <?start=16&limit=5>; rel="previous"'
    )
    assert past.status_code == 404 and missing.status_code == 404
    assert one.json() == singular.json() and one.json()[0]["key"] == "t00"
    assert set(one.json()[0]) == {
        "index-entry-number", "entry-number", "entry-timestamp", "key", "item-hash",
    }  # fmt: skip


async def test_an_empty_register_has_no_entries_but_answers_its_first_page(registers):
    await registers.define("empty", [FieldDefinition("empty", "string")])
    async with registers.http() as http:
        entries = await http.get("/registers/empty/entries")
        records = await http.get("/registers/empty/records")
        info = (await http.get("/registers/empty/register")).json()
    assert entries.json() == [] and records.json() == {}
    assert info["total-entries"] == 0 and "last-updated" not in info


async def test_records_by_field_value_match_current_items_and_any_list_element(towns):
    async with towns.http() as http:
        county = (await http.get("/registers/town/records/county/c1")).json()
        tagged = await http.get("/registers/town/records/tags/x1?page-size=5")
        renamed_away = (await http.get("/registers/town/records/county/c0")).json()
        by_key = (await http.get("/registers/town/records/town/t03")).json()
        unknown = await http.get("/registers/town/records/colour/red")
        past = await http.get("/registers/town/records/county/c1?page-index=9")
    assert sorted(county) == [f"t{i:02d}" for i in range(25) if i % 3 == 1]
    assert len(tagged.json()) == 5 and 'rel="next"' in tagged.headers["link"]
    assert "t00" not in renamed_away  # its current item moved to c9
    assert list(by_key) == ["t03"]
    assert unknown.status_code == 404 and past.status_code == 404


async def test_csv_is_chosen_by_suffix_or_accept_and_removed_formats_are_gone(towns):
    async with towns.http() as http:
        by_suffix = await http.get("/registers/town/records.csv?page-size=2")
        by_accept = await http.get("/registers/town/entries", headers={"Accept": "text/csv"})
        json_suffix = await http.get("/registers/town/records/t01.json")
        item_csv = await http.get(
            "/registers/town/items/"
            + (await http.get("/registers/town/entries/2")).json()[0]["item-hash"][0]
            + ".csv"
        )
        gone = await http.get("/registers/town/records.tsv")
    assert by_suffix.headers["content-type"] == "text/csv; charset=UTF-8"
    lines = by_suffix.text.split("\r\n")
    assert lines[0] == "index-entry-number,entry-number,entry-timestamp,key,town,name,county,tags"
    assert lines[2].startswith("2,2,") and lines[2].endswith(",t01,t01,Town 1,c1,a;x1")
    assert by_accept.text.startswith(
        "index-entry-number,entry-number,entry-timestamp,key,item-hash"
    )
    assert json_suffix.json()["t01"]["item"][0]["name"] == "Town 1"
    assert item_csv.text.split("\r\n")[1] == "t01,Town 1,c1,a;x1"
    assert gone.status_code == 410


async def test_items_are_found_by_hash_and_bad_hashes_are_refused(towns):
    async with towns.http() as http:
        entry = (await http.get("/registers/town/entries/1")).json()[0]
        found = await http.get(f"/registers/town/items/{entry['item-hash'][0]}")
        singular = await http.get(f"/registers/town/item/{entry['item-hash'][0]}")
        unknown = await http.get("/registers/town/items/sha-256:" + "0" * 64)
        malformed = await http.get("/registers/town/items/sha-256:xyz")
    assert found.json() == singular.json() and found.json()["town"] == "t00"
    assert unknown.status_code == 404 and malformed.status_code == 400


async def test_rsf_downloads_take_tree_sizes_and_the_zip_holds_entries_and_items(towns):
    async with towns.http() as http:
        whole = (await http.get("/registers/town/download-rsf")).text
        part = (await http.get("/registers/town/download-rsf/20/26")).text.splitlines()
        same = (await http.get("/registers/town/download-rsf/5/5")).text.splitlines()
        bad = [
            (await http.get(f"/registers/town/download-rsf/{path}")).status_code
            for path in ("27", "5/4", "0/27", "x", "-1", "99999999999999999999")
        ]
        root = (await http.get("/registers/town/proof/register/merkle:sha-256")).json()
    assert whole.splitlines()[0].startswith("assert-root-hash\tsha-256:e3b0c442")
    assert whole.splitlines()[-1] == f"assert-root-hash\t{root['root-hash']}"
    assert sum(line.startswith("append-entry\tuser") for line in part) == 6
    assert len(same) == 1 and same[0].startswith("assert-root-hash")
    assert bad == [400, 400, 400, 400, 400, 400]
    async with towns.http() as http:
        download = await http.get("/registers/town/download-register")
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    names = archive.namelist()
    assert "register.json" in names and "entry/26.json" in names
    assert json.loads(archive.read("entry/1.json"))["key"] == "t00"
    assert sum(name.startswith("item/") for name in names) >= 26


async def test_proofs_refuse_sizes_outside_the_tree(towns):
    async with towns.http() as http:
        statuses = [
            (await http.get(f"/registers/town/proof/{path}/merkle:sha-256")).status_code
            for path in (
                "entries/0/5", "entries/6/5", "entries/1/27", "entries/x/5",
                "entries/1/99999999999999999999", "consistency/0/5", "consistency/6/5",
                "consistency/1/27", "consistency/-1/2",
            )
        ]  # fmt: skip
        fine = await http.get("/registers/town/proof/consistency/26/26/merkle:sha-256")
    assert statuses == [400] * 9
    assert fine.json()["merkle-consistency-nodes"] == []


async def test_bad_paging_is_a_400_and_unknown_things_a_json_404(towns):
    async with towns.http() as http:
        bad = [
            (await http.get(f"/registers/town/{query}")).status_code
            for query in (
                "records?page-size=0", "records?page-size=5001", "records?page-index=0",
                "records?page-size=abc", "records?page-index=" + "9" * 40,
                "entries?start=0", "entries?limit=5001", "entries?limit=-3",
                "records?page-size=1&page-size=2",
            )
        ]  # fmt: skip
        unknown_register = await http.get("/registers/nowhere/records")
        bad_name = await http.get("/registers/NOT_A_NAME/records")
        unknown_path = await http.get("/registers/town/frobnicate")
        method = await http.post("/registers/town/records")
        unknown_record = await http.get("/registers/town/records/zz")
    assert bad == [400] * 9
    for answer in (unknown_register, bad_name, unknown_path, unknown_record):
        assert answer.status_code == 404 and answer.json()["code"] == 404
    assert method.status_code in (401, 405) and method.json()["code"] == method.status_code


async def test_the_registers_are_listed_with_links(towns):
    async with towns.http() as http:
        listed = (await http.get("/registers/")).json()
        info = (await http.get("/registers/town/")).json()
    names = [r["register"] for r in listed]
    assert {"datatype", "field", "register", "town"} <= set(names)
    town = next(r for r in listed if r["register"] == "town")
    assert town["url"] == "http://registers.test/registers/town/" and town["total-entries"] == 26
    assert info["register-record"]["fields"] == ["town", "name", "county", "tags"]


async def test_keys_and_values_that_cannot_exist_are_a_404_not_a_database_error(towns):
    async with towns.http() as http:
        answers = [
            await http.get(f"/registers/town/{path}")
            for path in (
                "records/a%00b", "records/a%00b/entries", "records/town/a%00b",
                "records/county/c%00", "records/" + "x" * 300, "items/sha-256:%00",
            )
        ]  # fmt: skip
    assert [a.status_code for a in answers] == [404, 404, 200, 200, 404, 400]
    assert answers[2].json() == answers[3].json() == {}  # a first page with no records
    assert all(a.json()["code"] == a.status_code for a in answers if a.status_code != 200)
