"""Merkle trees and proofs: the service's answers checked by an independent RFC 9162
verifier written here (not the service's code), against the published vectors.

Vectors (``vectors/``, copied from the transparency-dev/merkle and openregister
test data): the 8-leaf tables of roots, inclusion paths and consistency proofs
(RFC 6962 section 2.1.3's inputs), and transparency-dev's JSON cases, including the
ones a verifier must refuse.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from registers import merkle
from registers.datatypes import FieldDefinition

VECTORS = Path(__file__).parent / "vectors"
TABLES = json.loads((VECTORS / "rfc6962_8leaf.json").read_text())
TDM = [
    case
    for case in json.loads((VECTORS / "tdmerkle.json").read_text())
    if case["file"].split("/")[1] in ("inclusion", "consistency")
]
LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f"]  # fmt: skip


# -- an independent verifier (RFC 9162 sections 2.1.3.2 and 2.1.4.2) -------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hashes(*values: bytes) -> bool:
    return all(len(v) == 32 for v in values)


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: whether ``proof`` shows leaf ``index`` of ``size`` under ``root``."""
    if index >= size or index < 0 or not _hashes(leaf, root, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2, plus the common rules: a proof from the empty tree is refused,
    and equal sizes need an empty proof and equal roots."""
    if first <= 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof or not _hashes(first_root, second_root, *proof):
        return False
    if first & (first - 1) == 0:
        proof = [first_root, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def _hex(values) -> list[bytes]:
    return [bytes.fromhex(v) for v in values or []]


@pytest.mark.parametrize("case", TDM, ids=[c["file"].split("testdata/")[1] for c in TDM])
def test_the_verifier_agrees_with_every_transparency_dev_vector(case):
    if "leafIdx" in case:
        accepted = verify_inclusion(
            case["leafIdx"],
            case["treeSize"],
            bytes.fromhex(case["leafHash"]),
            _hex(case["proof"]),
            bytes.fromhex(case["root"]),
        )
    else:
        accepted = verify_consistency(
            case["size1"],
            case["size2"],
            bytes.fromhex(case["root1"]),
            bytes.fromhex(case["root2"]),
            _hex(case["proof"]),
        )
    assert accepted is not case["wantErr"]


# -- the service's tree code against the RFC 6962 8-leaf tables --------------------


def _tree(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    edge = merkle.CompactRange(0, [])
    for leaf in leaves:
        for level, index, digest in edge.append(leaf):
            nodes[(level, index)] = digest
    return nodes


def test_leaf_and_node_hashes_are_rfc_6962s():
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert merkle.node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_roots_and_proofs_of_the_8_leaf_tree_are_the_published_ones():
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in LEAF_INPUTS]
    assert [leaf.hex() for leaf in leaves] == TABLES["leaf_hashes"]
    nodes = _tree(leaves)

    def get(level, index):
        return nodes[(level, index)]

    for size, root in TABLES["roots"].items():
        assert merkle.root_hash(get, int(size)).hex() == root
    for key, path in TABLES["inclusion"].items():
        index, size = map(int, key.split("/"))
        assert [p.hex() for p in merkle.inclusion_path(get, index, size)] == path
    for key, proof in TABLES["consistency"].items():
        first, second = map(int, key.split("/"))
        assert [p.hex() for p in merkle.consistency_proof(get, first, second)] == proof


def test_a_compact_range_root_is_the_tree_hash_at_every_size():
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(300)]
    edge = merkle.CompactRange(0, [])
    nodes = {}
    for size, leaf in enumerate(leaves, start=1):
        for level, index, digest in edge.append(leaf):
            nodes[(level, index)] = digest
        assert edge.root() == merkle.root_hash(lambda lv, ix: nodes[(lv, ix)], size)
        reloaded = merkle.CompactRange.load(size, lambda lv, ix: nodes[(lv, ix)])
        assert reloaded.root() == edge.root()


# -- proofs from the API, for random sizes ------------------------------------------


def interesting_sizes(limit: int, seed: int) -> list[int]:
    """1, the powers of two and their neighbours up to ``limit``, and random sizes."""
    sizes = {1, 2, 3, limit}
    power = 4
    while power <= limit:
        sizes.update({power - 1, power, power + 1})
        power *= 2
    rng = random.Random(seed)
    sizes.update(rng.randint(1, limit) for _ in range(12))
    return sorted(s for s in sizes if 1 <= s <= limit)


async def _load(registers, name: str, count: int) -> None:
    await registers.define(name, [FieldDefinition(name, "string"), FieldDefinition("text", "text")])
    lines = []
    for i in range(count):
        item = json.dumps({name: f"k{i % 997}", "text": f"entry {i}"}, separators=(",", ":"))
        digest = hashlib.sha256(item.encode()).hexdigest()
        second = 1_500_000_000 + i
        stamp = f"{_iso(second)}"
        lines += [f"add-item\t{item}", f"append-entry\tuser\tk{i % 997}\t{stamp}\tsha-256:{digest}"]
    async with registers.http() as http:
        answer = await http.post(
            f"/registers/{name}/load-rsf",
            content="\n".join(lines),
            headers={
                "Content-Type": "application/uk-gov-rsf",
                **registers.principal(f"registers:write:{name}"),
            },
        )
    assert answer.status_code == 200, answer.text


def _iso(seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _leaf_of(entry: dict) -> bytes:
    """The v1 leaf, rebuilt here from the entry JSON the API shows."""
    fields = ["index-entry-number", "entry-number", "entry-timestamp", "key", "item-hash"]
    data = json.dumps({name: entry[name] for name in fields}, separators=(",", ":"))
    return _h(b"\x00" + data.encode())


def _nodes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v.removeprefix("sha-256:")) for v in values]


@pytest.mark.slow
async def test_inclusion_and_consistency_proofs_verify_at_random_sizes_up_to_3000(registers):
    total = 3000
    await _load(registers, "sample", total)
    rng = random.Random(9162)
    async with registers.http() as http:
        entries = []
        for start in range(1, total + 1, 1000):
            entries += (
                await http.get(f"/registers/sample/entries?start={start}&limit=1000")
            ).json()
        leaves = [_leaf_of(e) for e in entries]
        roots = {}
        for size in interesting_sizes(total, seed=1):
            rsf = (await http.get(f"/registers/sample/download-rsf/{size}/{size}")).text
            roots[size] = bytes.fromhex(rsf.strip().rsplit(":", 1)[1])
        for size, root in roots.items():
            for number in {1, size, rng.randint(1, size), (size + 1) // 2}:
                proof = (
                    await http.get(
                        f"/registers/sample/proof/entries/{number}/{size}/merkle:sha-256"
                    )
                ).json()
                path = _nodes(proof["merkle-audit-path"])
                assert verify_inclusion(number - 1, size, leaves[number - 1], path, root)
                other = leaves[number % size]  # another entry's leaf (the same when size 1)
                assert verify_inclusion(number - 1, size, other, path, root) is (size == 1)
                if path:
                    bent = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
                    assert not verify_inclusion(number - 1, size, leaves[number - 1], bent, root)
        sizes = sorted(roots)
        for first in sizes:
            for second in [s for s in sizes if s >= first][:6]:
                proof = (
                    await http.get(
                        f"/registers/sample/proof/consistency/{first}/{second}/merkle:sha-256"
                    )
                ).json()
                nodes = _nodes(proof["merkle-consistency-nodes"])
                assert verify_consistency(first, second, roots[first], roots[second], nodes)
                if first < second:
                    assert not verify_consistency(first, second, roots[second], roots[first], nodes)


async def test_proofs_verify_at_small_sizes_and_every_entry(registers):
    await _load(registers, "small", 17)
    async with registers.http() as http:
        entries = (await http.get("/registers/small/entries?limit=100")).json()
        leaves = [_leaf_of(e) for e in entries]
        for size in range(1, 18):
            root = (await http.get(f"/registers/small/download-rsf/{size}/{size}")).text
            root_hash = bytes.fromhex(root.strip().rsplit(":", 1)[1])
            for number in range(1, size + 1):
                proof = (
                    await http.get(f"/registers/small/proof/entry/{number}/{size}/merkle:sha-256")
                ).json()
                assert proof["entry-number"] == str(number)
                assert verify_inclusion(
                    number - 1, size, leaves[number - 1], _nodes(proof["merkle-audit-path"]),
                    root_hash,
                )  # fmt: skip
