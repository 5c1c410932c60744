"""The OpenRegister v1 read and write API, in-process."""

from __future__ import annotations

import pytest

from registers import hashing
from registers.datatypes import FieldDefinition

ADDRESS_FIELDS = [FieldDefinition("address", "string"), FieldDefinition("street", "string")]
#: openregister-java's DataDownloadFunctionalTest: five entries, all at one time.
ORJ_ITEMS = [
    ("12345", "ellis"),
    ("6789", "presley"),
    ("12345", "foo"),
    ("145678", "ellis"),
    ("12345", "ellis"),
]
ORJ_ROOTS = {
    1: "1ff5df752df3070a48c52fb6b203f4c2f83a6962484f8d20c911260736d13eb0",
    2: "7cdec03e9aba7810340596079a18b495dbc93f22a8d051d3417fb4a79b1f6124",
    3: "fb9abd8d4866ba933ece23de2d7a05dcdab96a1160aa9c0240f3dbb73d25b1ef",
    4: "f1619388f950130ae6fbbe71626ec6f8c22a66605be3cd2844871a025c2449b4",
    5: "a0aa6dace50e47c68fd4a79e3d94ba525f827e0a44bb64ed2e5f75cfe051b71c",
}


def orj_rsf() -> str:
    lines = []
    for key, street in ORJ_ITEMS:
        canonical = hashing.canonical_json({"address": key, "street": street})
        lines.append(f"add-item\t{canonical}")
        digest = hashing.format_hash(hashing.item_digest(canonical))
        lines.append(f"append-entry\tuser\t{key}\t2017-06-01T10:13:27Z\t{digest}")
    return "\n".join(lines) + "\n"


RSF = {"Content-Type": "application/uk-gov-rsf"}


@pytest.fixture
async def address(registers):
    await registers.define("address", ADDRESS_FIELDS)
    async with registers.http() as http:
        answer = await http.post(
            "/registers/address/load-rsf",
            content=orj_rsf(),
            headers={**RSF, **registers.principal("registers:write:address")},
        )
        assert answer.status_code == 200, answer.text
    return registers


async def test_an_rsf_load_gives_the_root_hashes_gov_uk_published(address):
    async with address.http() as http:
        for size, root in ORJ_ROOTS.items():
            rsf = (await http.get(f"/registers/address/download-rsf/0/{size}")).text
            assert rsf.splitlines()[-1] == f"assert-root-hash\tsha-256:{root}"
        proof = (await http.get("/registers/address/proof/register/merkle:sha-256")).json()
    assert proof == {
        "proof-identifier": "merkle:sha-256",
        "root-hash": f"sha-256:{ORJ_ROOTS[5]}",
        "total-entries": 5,
    }


async def test_records_are_keyed_by_key_with_their_latest_entry(address):
    async with address.http() as http:
        records = (await http.get("/registers/address/records")).json()
        record = (await http.get("/registers/address/record/12345")).json()
        entries = (await http.get("/registers/address/records/12345/entries")).json()
        info = (await http.get("/registers/address/register")).json()
    assert list(records) == ["12345", "6789", "145678"]
    assert record["12345"]["entry-number"] == "5"
    assert record["12345"]["item"] == [{"address": "12345", "street": "ellis"}]
    assert [e["entry-number"] for e in entries] == ["1", "3", "5"]
    assert info["total-records"] == 3 and info["total-entries"] == 5
    assert info["last-updated"] == "2017-06-01T10:13:27Z"
    assert info["register-record"]["fields"] == ["address", "street"]


#: The audit paths and consistency proofs of that register, from the same source.
ORJ_PROOFS = {
    "entries/1/5": ["9a4a3fca445ab8439397d3fc292c9fd6e48c56925ca941a187c2acbcde3f3939",
                    "23c5af4f4fab13fb3a6c9601853baef9f548fb70dcf14cde22d703a078b12a41",
                    "c793376fbe2573d303b26e6d93a1698ddf440d738f479ec84323c3b2c6acbd53"],
    "entries/2/5": [ORJ_ROOTS[1], "23c5af4f4fab13fb3a6c9601853baef9f548fb70dcf14cde22d703a078b12a41",
                    "c793376fbe2573d303b26e6d93a1698ddf440d738f479ec84323c3b2c6acbd53"],
    "entries/3/5": ["5730c6f0b4b84ff19a02e37597807ff36f3cc729d5db1b2da83cc696ba8bd964", ORJ_ROOTS[2],
                    "c793376fbe2573d303b26e6d93a1698ddf440d738f479ec84323c3b2c6acbd53"],
    "entries/4/5": ["666578032c690cb3218ee38a859b865ea9f374402c4027ce53e7a870c27a1c8c", ORJ_ROOTS[2],
                    "c793376fbe2573d303b26e6d93a1698ddf440d738f479ec84323c3b2c6acbd53"],
    "entries/5/5": [ORJ_ROOTS[4]],
    "consistency/1/5": ["9a4a3fca445ab8439397d3fc292c9fd6e48c56925ca941a187c2acbcde3f3939",
                        "23c5af4f4fab13fb3a6c9601853baef9f548fb70dcf14cde22d703a078b12a41",
                        "c793376fbe2573d303b26e6d93a1698ddf440d738f479ec84323c3b2c6acbd53"],
    "consistency/2/5": ["23c5af4f4fab13fb3a6c9601853baef9f548fb70dcf14cde22d703a078b12a41",
                        "c793376fbe2573d303b26e6d93a1698ddf440d738f479ec84323c3b2c6acbd53"],
    "consistency/4/5": ["c793376fbe2573d303b26e6d93a1698ddf440d738f479ec84323c3b2c6acbd53"],
    "consistency/3/4": ["666578032c690cb3218ee38a859b865ea9f374402c4027ce53e7a870c27a1c8c",
                        "5730c6f0b4b84ff19a02e37597807ff36f3cc729d5db1b2da83cc696ba8bd964", ORJ_ROOTS[2]],
    "consistency/5/5": [],
}  # fmt: skip


async def test_proofs_of_the_gov_uk_register_are_the_published_ones(address):
    async with address.http() as http:
        for path, nodes in ORJ_PROOFS.items():
            body = (await http.get(f"/registers/address/proof/{path}/merkle:sha-256")).json()
            found = body.get("merkle-audit-path", body.get("merkle-consistency-nodes"))
            assert found == [f"sha-256:{n}" for n in nodes], path
