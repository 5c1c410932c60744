"""Signed tree heads as C2SP checkpoints in signed notes (c2sp.org/tlog-checkpoint,
c2sp.org/signed-note), signed with Ed25519.

A checkpoint's text is the log's origin, the tree size in decimal, the root hash in
standard base64, then one extension line with the time the tree head was made::

    127.0.0.1:8000/registers/country
    287
    pZ6dWv3mJqD5t2gKc6S4eQ0x4bWkYI5jOQx1lmtQ3Dc=
    time 2026-02-16T00:00:00Z

It is followed by an empty line and one signature line per key:
``— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>`` (an em dash
and a space). The key id is the first 4 bytes of
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)``, and the signature is
over the checkpoint text (every line, each ending in a newline). The public key is
published as a verifier key ``<name>+<key id hex>+<base64(0x01 || public key)>``.
GOV.UK Registers had no signed tree heads; this is the format transparency logs use.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
_KEY_NAME = re.compile(r"^[^\s+]{1,200}$")


class CheckpointError(ValueError):
    """A note that is not a well-formed, validly signed checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: ``origin``, ``size`` (entries), ``root`` (32 bytes), ``time`` (RFC 3339)."""

    origin: str
    size: int
    root: bytes
    time: str

    def text(self) -> str:
        """The checkpoint's note text (signed by :meth:`Signer.sign`)."""
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\ntime {self.time}\n"


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of an Ed25519 note key (c2sp.org/signed-note)."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


class Signer:
    """Signs checkpoints with one Ed25519 key named ``name`` (e.g. ``host/registers``).

    Args:
        name: the key name: no whitespace and no ``+``.
        private_key: the 32-byte Ed25519 seed.

    Raises:
        ValueError: for a bad name or key.
    """

    def __init__(self, name: str, private_key: bytes) -> None:
        if not _KEY_NAME.match(name):
            raise ValueError("a note key name has no spaces and no '+'")
        self.name = name
        self._key = Ed25519PrivateKey.from_private_bytes(private_key)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(name, self.public_key)

    @property
    def verifier_key(self) -> str:
        """``<name>+<key id hex>+<base64(0x01 || public key)>``."""
        encoded = base64.b64encode(ED25519 + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note: the checkpoint text, an empty line and one signature line."""
        text = checkpoint.text()
        signature = self._key.sign(text.encode())
        encoded = base64.b64encode(self.key_id + signature).decode()
        return f"{text}\n{SIGNATURE_PREFIX}{self.name} {encoded}\n"


def new_private_key() -> bytes:
    """A new random Ed25519 seed (32 bytes)."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )


def verify(note: str, verifier_key: str) -> Checkpoint:
    """The checkpoint in a signed note, after checking its signature by ``verifier_key``.

    Raises:
        CheckpointError: for a malformed note or key, or no valid signature by that key.
    """
    try:
        name, hex_id, encoded = verifier_key.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise CheckpointError("malformed verifier key") from None
    if raw[:1] != ED25519 or len(raw) != 33 or key_id(name, raw[1:]).hex() != hex_id:
        raise CheckpointError("malformed verifier key")
    text, sep, signatures = note.partition("\n\n")
    if not sep or not text:
        raise CheckpointError("a signed note has its text, an empty line, then signatures")
    text += "\n"
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("malformed signature line")
        signer, _, value = line[len(SIGNATURE_PREFIX) :].rpartition(" ")
        if signer != name:
            continue
        try:
            blob = base64.b64decode(value, validate=True)
        except ValueError:
            raise CheckpointError("malformed signature") from None
        if blob[:4].hex() != hex_id:
            continue
        try:
            public.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError("the signature does not verify") from None
        return parse(text)
    raise CheckpointError("no signature by this key")


def parse(text: str) -> Checkpoint:
    """The fields of a checkpoint's text (unsigned).

    Raises:
        CheckpointError: when the text is not origin, size, base64 root and a time line.
    """
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("a checkpoint has an origin, a size and a root hash")
    origin, size, root = lines[0], lines[1], lines[2]
    time = next((line[5:] for line in lines[3:-1] if line.startswith("time ")), "")
    try:
        digest = base64.b64decode(root, validate=True)
    except ValueError:
        raise CheckpointError("the root hash is not base64") from None
    if not origin or not size.isdigit() or len(digest) != 32:
        raise CheckpointError("a checkpoint has an origin, a size and a root hash")
    return Checkpoint(origin, int(size), digest, time)
