"""Create the registers, entries, items, records and Merkle tree tables.

Revision ID: registers_0002
Revises: registers_0001
"""

import sqlalchemy as sa
from alembic import op

import govkit.db

revision = "registers_0002"
down_revision = "registers_0001"
branch_labels = None
depends_on = None


def _entry_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("entry_number", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("timestamp", sa.String(length=20), nullable=False),
        sa.Column("item_digests", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("register_id", "entry_number", name=f"pk_{name}"),
        sqlite_with_rowid=False,
    )
    op.create_index(f"ix_{name}_key", name, ["register_id", "key", "entry_number"])


def upgrade() -> None:
    op.create_table(
        "register",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("total_records", sa.BigInteger(), nullable=False),
        sa.Column("system_entries", sa.BigInteger(), nullable=False),
        sa.Column("last_updated", sa.String(length=20), nullable=True),
        sa.Column("created_at", govkit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_register"),
        sa.UniqueConstraint("name", name="uq_register_name"),
    )
    _entry_table("entry")
    _entry_table("system_entry")
    op.create_table(
        "item",
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("register_id", "digest", name="pk_item"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "record",
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("entry_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("register_id", "key", name="pk_record"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_record_position", "record", ["register_id", "position"], unique=True)
    op.create_table(
        "record_value",
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=16), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("register_id", "digest", "position", name="pk_record_value"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_record_value_position", "record_value", ["register_id", "position"])
    op.create_table(
        "tree_node",
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("register_id", "node_id", name="pk_tree_node"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "tree_head",
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("register_id", "tree_size", name="pk_tree_head"),
    )
    op.create_table(
        "signing_key",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("private_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", govkit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_signing_key"),
    )
    op.create_table(
        "append_request",
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("request_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("first_entry_number", sa.BigInteger(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", govkit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("register_id", "request_id", name="pk_append_request"),
    )


def downgrade() -> None:
    for name in (
        "append_request",
        "signing_key",
        "tree_head",
        "tree_node",
        "record_value",
        "record",
        "item",
        "system_entry",
        "entry",
        "register",
    ):
        op.drop_table(name)
