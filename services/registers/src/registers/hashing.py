"""Items, entries and their hashes, byte for byte as OpenRegister v1 computes them.

- An **item** is a JSON object of field name to string (or array of strings, for a
  field of cardinality ``n``). Its **canonical JSON** has keys sorted, no
  whitespace, raw (unescaped) non-ASCII characters, ``/`` not escaped, and control
  characters escaped with upper-case hex (``\\u001F``), as openregister-java's
  Jackson mapper writes it (OpenRegister specification, ``item-def.md``).
- The **item hash** is ``sha-256:`` + hex SHA-256 of the canonical JSON's UTF-8 bytes.
- The **Merkle leaf** of a user entry is the entry as one JSON object in the fixed
  field order ``index-entry-number, entry-number, entry-timestamp, key, item-hash``
  (numbers as strings, ``item-hash`` an array): openregister-java's
  ``V1EntryMerkleLeafStore``; only this form reproduces GOV.UK's published roots.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from json.encoder import encode_basestring

import orjson

HASH_PREFIX = "sha-256:"
_HEX_HASH = re.compile(r"^sha-256:([0-9a-f]{64})$")
_LOWER_ESCAPE = re.compile(r"(\\\\)|\\u([0-9a-f]{4})")
#: Keys of user entries (openregister-java ``EntryValidator``): a letter or digit, then
#: letters, digits and ``-_./``, never two of ``-_./`` in a row.
KEY_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9]|[-_./](?=[A-Za-z0-9]))*"
_KEY = re.compile(rf"^{KEY_PATTERN}$")
MAX_KEY_LENGTH = 255


class ItemError(ValueError):
    """An item that is not a JSON object of strings (the message says why)."""


def _upper_escape(match: re.Match) -> str:
    return match.group(1) or "\\u" + match.group(2).upper()


def canonical_json(item: dict) -> str:
    """The canonical JSON text of an item (see the module docstring).

    Raises:
        ItemError: when ``item`` is not an object whose values are strings or arrays
            of strings, or holds a lone surrogate (``\\ud800``: not Unicode text).
    """
    check_item_shape(item)
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ItemError("the item holds a lone surrogate, which is not Unicode text") from None
    return _LOWER_ESCAPE.sub(_upper_escape, text) if "\\u" in text else text


def check_item_shape(item: object) -> None:
    """Raise :class:`ItemError` unless ``item`` is a JSON object of strings or arrays of strings."""
    if not isinstance(item, dict):
        raise ItemError("an item must be a JSON object")
    for name, value in item.items():
        if isinstance(value, str):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        raise ItemError(f"field {name!r}: values must be strings or arrays of strings")


def parse_canonical_item(text: str) -> tuple[dict, str]:
    """Parse RSF ``add-item`` JSON, which must already be canonical; returns (item, text).

    An item that orjson reads and writes back byte for byte (keys sorted, no
    whitespace, no ``\\u`` escape) is canonical as :func:`canonical_json` writes it:
    both escape only ``"``, ``\\`` and control characters, write other characters raw
    and sort keys by code point. Anything else is decided by :func:`canonical_json`
    (the tests check that the two agree).

    Raises:
        ItemError: for invalid JSON, a non-object, or JSON that is not canonical
            (openregister-java refuses it with "Non canonical JSON").
    """
    try:
        data = text.encode("utf-8")
        item = orjson.loads(data)
    except (UnicodeEncodeError, orjson.JSONDecodeError):
        item = None
    if type(item) is dict and b"\\u" not in data:
        check_item_shape(item)
        if orjson.dumps(item, option=orjson.OPT_SORT_KEYS) == data:
            return item, text
    try:
        item = json.loads(text)
    except (ValueError, RecursionError):
        raise ItemError("the item is not valid JSON") from None
    canonical = canonical_json(item)
    if canonical != text:
        raise ItemError("the item is not in canonical JSON (keys sorted, no whitespace)")
    return item, canonical


def item_digest(canonical: str) -> bytes:
    """SHA-256 of an item's canonical JSON (32 bytes)."""
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def format_hash(digest: bytes) -> str:
    """``sha-256:<lower-case hex>``."""
    return HASH_PREFIX + digest.hex()


def parse_hash(text: str) -> bytes:
    """The 32-byte digest of ``sha-256:<64 lower-case hex>``.

    Raises:
        ValueError: for anything else.
    """
    match = _HEX_HASH.match(text)
    if match is None:
        raise ValueError("a hash must be 'sha-256:' followed by 64 lower-case hex digits")
    return bytes.fromhex(match.group(1))


def valid_key(key: str) -> bool:
    """Whether ``key`` may be a user entry's key (see ``_KEY``), at most 255 characters."""
    return len(key) <= MAX_KEY_LENGTH and _KEY.match(key) is not None


def split_digests(packed: bytes, size: int = 32) -> list[bytes]:
    """The digests of ``size`` bytes (SHA-256's 32 by default) stored back to back in
    ``packed``."""
    return [packed[i : i + size] for i in range(0, len(packed), size)]


def entry_leaf(entry_number: int, timestamp: str, key: str, digests: Sequence[bytes]) -> bytes:
    """The Merkle leaf data of a user entry (see the module docstring), UTF-8 bytes."""
    if len(digests) == 1:
        hashes = f'"sha-256:{digests[0].hex()}"'
    else:
        hashes = ",".join([f'"sha-256:{d.hex()}"' for d in digests])
    # encode_basestring is json.dumps(key, ensure_ascii=False) for a string.
    return (
        f'{{"index-entry-number":"{entry_number}","entry-number":"{entry_number}",'
        f'"entry-timestamp":"{timestamp}","key":{encode_basestring(key)},'
        f'"item-hash":[{hashes}]}}'
    ).encode()
