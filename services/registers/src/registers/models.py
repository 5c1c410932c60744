"""Database models of the registers service (SQLAlchemy 2.0 Core tables, its own metadata).

Registers are append-only: rows of ``entry``, ``system_entry``, ``item``,
``tree_node`` and ``tree_head`` are inserted, never updated or deleted; ``record``
and ``record_value`` are the current state derived from the entries (rebuildable).

- ``register``: one row per register, with its counters (``tree_size`` = user
  entries, ``total_records``, ``system_entries``) and the last user entry's time.
- ``entry`` / ``system_entry``: the two logs (user entries are the Merkle tree's
  leaves; system entries hold the register's metadata), numbered from 1 each.
  ``timestamp`` is the exact ``YYYY-MM-DDThh:mm:ssZ`` text that is hashed into the
  leaf; ``item_digests`` the entry's item hashes, 32 bytes each, back to back.
- ``item``: canonical JSON by SHA-256 digest, per register.
- ``record``: each key's latest user entry and its place in the order of first
  appearance (``position``, 1, 2, 3 ... so a page is a range, never an offset).
- ``record_value``: a digest of each (field, value) of every current record, for
  ``/records/{field}/{value}``.
- ``tree_node``: every complete perfect subtree of the Merkle tree, keyed by
  ``merkle.node_id(level, index)`` (level 0: leaf hashes). An append writes O(log n)
  rows (2 per leaf on average); a proof reads O(log n) rows in one query.
- ``tree_head``: the signed checkpoint of each size the tree had after an append.
- ``signing_key``: the checkpoint key, when none is configured (generated once).
- ``append_request``: gRPC ``AppendEntries`` request ids, for retries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase

from govkit.db import UTCDateTime, new_metadata
from govkit.outbox import MessagingTables


class Base(DeclarativeBase):
    """Declarative base of the registers service's models."""

    metadata = new_metadata()


metadata = Base.metadata

#: The outbox (events to publish) and inbox (events handled) of this service.
messaging = MessagingTables(metadata)

register = Table(
    "register",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("tree_size", BigInteger, nullable=False, default=0),
    Column("total_records", BigInteger, nullable=False, default=0),
    Column("system_entries", BigInteger, nullable=False, default=0),
    Column("last_updated", String(20), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)


def _entry_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("register_id", Integer, primary_key=True),
        Column("entry_number", BigInteger, primary_key=True),
        Column("key", String(255), nullable=False),
        Column("timestamp", String(20), nullable=False),
        Column("item_digests", LargeBinary, nullable=False),
        Index(f"ix_{name}_key", "register_id", "key", "entry_number"),
        sqlite_with_rowid=False,
    )


entry = _entry_table("entry")
system_entry = _entry_table("system_entry")

item = Table(
    "item",
    metadata,
    Column("register_id", Integer, primary_key=True),
    Column("digest", LargeBinary(32), primary_key=True),
    Column("content", Text, nullable=False),
    sqlite_with_rowid=False,
)

record = Table(
    "record",
    metadata,
    Column("register_id", Integer, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("entry_number", BigInteger, nullable=False),
    Index("ix_record_position", "register_id", "position", unique=True),
    sqlite_with_rowid=False,
)

record_value = Table(
    "record_value",
    metadata,
    Column("register_id", Integer, primary_key=True),
    Column("digest", LargeBinary(16), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Index("ix_record_value_position", "register_id", "position"),
    sqlite_with_rowid=False,
)

tree_node = Table(
    "tree_node",
    metadata,
    Column("register_id", Integer, primary_key=True),
    Column("node_id", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

tree_head = Table(
    "tree_head",
    metadata,
    Column("register_id", Integer, primary_key=True),
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("timestamp", String(20), nullable=False),
    Column("note", Text, nullable=False),
)

signing_key = Table(
    "signing_key",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("private_key", LargeBinary(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

append_request = Table(
    "append_request",
    metadata,
    Column("register_id", Integer, primary_key=True),
    Column("request_id", String(128), primary_key=True),
    Column("request_digest", LargeBinary(32), nullable=False),
    Column("first_entry_number", BigInteger, nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
