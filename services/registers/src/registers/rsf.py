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
from dataclasses import dataclass
from datetime import datetime

from registers import hashing

MEDIA_TYPE = "application/uk-gov-rsf"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", re.ASCII)
#: Longest line accepted (bytes): an item of 1 MiB is far beyond any register's.
MAX_LINE_BYTES = 1024 * 1024


class RsfError(ValueError):
    """A line that is not a valid RSF command (the message says why)."""


@dataclass(frozen=True)
class AddItem:
    """``add-item``: an item, already canonical."""

    item: dict
    canonical: str


@dataclass(frozen=True)
class AppendEntry:
    """``append-entry``: an entry of ``kind`` ``user`` or ``system``."""

    kind: str
    key: str
    timestamp: str
    digests: tuple[bytes, ...]


@dataclass(frozen=True)
class AssertRootHash:
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
        if not rest or "\t" in rest:
            raise RsfError("add-item takes exactly one argument, the item's canonical JSON")
        try:
            item, canonical = hashing.parse_canonical_item(rest)
        except hashing.ItemError as exc:
            raise RsfError(f"add-item: {exc}") from None
        return AddItem(item, canonical)
    if command == "append-entry":
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
        return AppendEntry(kind, key, timestamp, digests)
    if command == "assert-root-hash":
        try:
            return AssertRootHash(hashing.parse_hash(rest))
        except ValueError as exc:
            raise RsfError(f"assert-root-hash: {exc}") from None
    raise RsfError(f"unknown command {command[:40]!r}")


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
