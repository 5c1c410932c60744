"""Signed tree heads: C2SP checkpoints in signed notes, Ed25519, published key."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registers import checkpoints
from registers.datatypes import FieldDefinition
from registers.service import appending


def independent_check(note: str, verifier_key: str) -> list[str]:
    """The note's text lines, after checking its signature as c2sp.org/signed-note says."""
    name, key_id, encoded = verifier_key.strip().split("+", 2)
    key = base64.b64decode(encoded)
    assert key[0] == 0x01 and len(key) == 33
    assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id
    text, _, signatures = note.partition("\n\n")
    [line] = [s for s in signatures.splitlines() if s.startswith(f"\u2014 {name} ")]
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4].hex() == key_id and len(blob) == 68
    Ed25519PublicKey.from_public_bytes(key[1:]).verify(blob[4:], (text + "\n").encode())
    return text.split("\n")


async def test_each_append_publishes_a_checkpoint_signed_by_the_published_key(registers):
    await registers.define("log", [FieldDefinition("log", "string")])
    result = await appending.append_entries(
        registers.context, "log", [appending.NewEntry(k, [{"log": k}]) for k in ("a", "b", "c")]
    )
    async with registers.http() as http:
        note = (await http.get("/registers/log/checkpoint")).text
        key = (await http.get("/registers/log/checkpoint-key")).text
        by_size = (await http.get("/registers/log/checkpoints/3")).text
        missing = await http.get("/registers/log/checkpoints/2")
        root = (await http.get("/registers/log/proof/register/merkle:sha-256")).json()
    origin, size, root_b64, time = independent_check(note, key)
    assert origin == "registers.test/registers/log" and size == "3"
    assert base64.b64decode(root_b64).hex() == root["root-hash"].removeprefix("sha-256:")
    assert time == f"time {result.timestamp}"
    assert by_size == note and missing.status_code == 404


def test_a_forged_or_altered_note_does_not_verify():
    signer = checkpoints.Signer("example.org/registers", b"\x01" * 32)
    note = signer.sign(checkpoints.Checkpoint("example.org/registers/x", 5, b"\x02" * 32, "T"))
    assert checkpoints.verify(note, signer.verifier_key).size == 5
    other = checkpoints.Signer("example.org/registers", b"\x03" * 32)
    for altered, key in (
        (note.replace("\n5\n", "\n6\n"), signer.verifier_key),
        (note, other.verifier_key),
        (note.split("\n\n")[0], signer.verifier_key),
        ("nonsense", "not+a+key"),
    ):
        with pytest.raises(checkpoints.CheckpointError):
            checkpoints.verify(altered, key)
