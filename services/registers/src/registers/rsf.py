"""RSF, the Register Serialisation Format (openregister-java ``RSFFormatter``, ADR-006).

UTF-8 text, one command per line, arguments separated by TAB::

    add-item	{"country":"GB","name":"United Kingdom"}
    append-entry	user	GB	2016-04-05T13:23:05Z	sha-256:6b18...
    assert-root-hash	sha-256:e3b0c442...

- ``add-item``: one argument, canonical JSON (:mod:`registers.hashing`).
- ``append-entry``: ``user`` or ``system``, the key, the timestamp
  (``YYYY-MM-DDThh:mm:ssZ``), then one or more item hashes separated by ``;``.
  The older three-argument form (key, timestamp, hash; before May 2017) is read as
  a user entry.
- ``assert-root-hash``: the Merkle root over the user entries so far.

Parsing is streaming: :func:`parse_line` reads one line, and the loader applies
each command in order.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import NamedTuple

from registers import hashing

MEDIA_TYPE = "application/uk-gov-rsf"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", re.ASCII)
#: The usual ``append-entry`` arguments: a user entry of one item. Whatever this accepts
#: the general rules below accept too, with the same result; anything else is read by
#: those rules (and refused with their reasons).
_USER_ENTRY = re.compile(
    rf"user\t({hashing.KEY_PATTERN})"
    r"\t([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)\tsha-256:([0-9a-f]{64})"
)
#: Longest line accepted (bytes): an item of 1 MiB is far beyond any register's.
MAX_LINE_BYTES = 1024 * 1024


class RsfError(ValueError):
    """A line that is not a valid RSF command (the message says why)."""


class AddItem(NamedTuple):
    """``add-item``: an item, already canonical."""

    item: dict
    canonical: str


class AppendEntry(NamedTuple):
    """``append-entry``: an entry of ``kind`` ``user`` or ``system``."""

    kind: str
    key: str
    timestamp: str
    digests: tuple[bytes, ...]


class AssertRootHash(NamedTuple):
    """``assert-root-hash``: the expected root over the user entries so far."""

    digest: bytes


Command = AddItem | AppendEntry | AssertRootHash


@functools.lru_cache(maxsize=65536)
def valid_timestamp(text: str) -> bool:
    """Whether ``text`` is an entry timestamp: RFC 3339 UTC to the second, ``Z``
    (cached: the entries of a batch often share their time)."""
    if TIMESTAMP.match(text) is None:
        return False
    try:
        datetime(
            int(text[0:4]), int(text[5:7]), int(text[8:10]),
            int(text[11:13]), int(text[14:16]), int(text[17:19]),
        )  # fmt: skip
    except ValueError:
        return False
    return True


def parse_line(line: str) -> Command:
    """One RSF command (``line`` without its line ending).

    Raises:
        RsfError: for an unknown command, a wrong number of arguments, or an invalid
            item, entry type, key, timestamp or hash.
    """
    command, _, rest = line.partition("\t")
    if command == "add-item":
        return parse_add_item(rest)
    if command == "append-entry":
        return parse_append_entry(rest)
    if command == "assert-root-hash":
        try:
            return AssertRootHash(hashing.parse_hash(rest))
        except ValueError as exc:
            raise RsfError(f"assert-root-hash: {exc}") from None
    raise RsfError(f"unknown command {command[:40]!r}")


def parse_add_item(rest: str) -> AddItem:
    """The arguments of ``add-item`` (what follows its TAB).

    Raises:
        RsfError: unless ``rest`` is one canonical JSON item.
    """
    return AddItem(*item_arguments(rest))


def parse_append_entry(rest: str) -> AppendEntry:
    """The arguments of ``append-entry`` (what follows its TAB).

    Raises:
        RsfError: for a wrong number of arguments, or an invalid entry type, key,
            timestamp or hash.
    """
    return AppendEntry(*entry_arguments(rest))


def item_arguments(rest: str) -> tuple[dict, str]:
    """:func:`parse_add_item` as a plain tuple ``(item, canonical)`` (for bulk loads)."""
    if not rest or "\t" in rest:
        raise RsfError("add-item takes exactly one argument, the item's canonical JSON")
    try:
        return hashing.parse_canonical_item(rest)
    except hashing.ItemError as exc:
        raise RsfError(f"add-item: {exc}") from None


def entry_arguments(rest: str) -> tuple[str, str, str, tuple[bytes, ...]]:
    """:func:`parse_append_entry` as a plain tuple ``(kind, key, timestamp, digests)``
    (for bulk loads)."""
    usual = _USER_ENTRY.fullmatch(rest)
    if usual is not None:
        key, timestamp, digest = usual.groups()
        if len(key) <= hashing.MAX_KEY_LENGTH and valid_timestamp(timestamp):
            return "user", key, timestamp, (bytes.fromhex(digest),)
    args = rest.split("\t")
    if len(args) == 3:
        args = ["user", *args]
    if len(args) != 4:
        raise RsfError("append-entry takes 4 arguments: type, key, timestamp, item hashes")
    kind, key, timestamp, hashes = args
    if kind not in ("user", "system"):
        raise RsfError(f"append-entry: the entry type must be user or system, not {kind!r}")
    if kind == "user" and not hashing.valid_key(key):
        raise RsfError(f"append-entry: {key[:80]!r} is not a valid key")
    if kind == "system" and not key:
        raise RsfError("append-entry: a system entry needs a key")
    if not valid_timestamp(timestamp):
        raise RsfError(
            f"append-entry: {timestamp[:40]!r} is not a timestamp (YYYY-MM-DDThh:mm:ssZ)"
        )
    if hashes.count(";") >= 100:
        raise RsfError("append-entry: an entry names at most 100 items")
    try:
        digests = tuple(hashing.parse_hash(h) for h in hashes.split(";"))
    except ValueError as exc:
        raise RsfError(f"append-entry: {exc}") from None
    return kind, key, timestamp, digests


def add_item_line(canonical: str) -> str:
    """``add-item`` with its line ending."""
    return f"add-item\t{canonical}\n"


def append_entry_line(kind: str, key: str, timestamp: str, digests: list[bytes]) -> str:
    """``append-entry`` with its line ending."""
    hashes = ";".join(hashing.format_hash(d) for d in digests)
    return f"append-entry\t{kind}\t{key}\t{timestamp}\t{hashes}\n"


def assert_root_hash_line(root: bytes) -> str:
    """``assert-root-hash`` with its line ending."""
    return f"assert-root-hash\t{hashing.format_hash(root)}\n"
