"""Identity's read copy of the country register, and citizens' postal addresses.

Revision ID: identity_0005
Revises: identity_0004
Create Date: 2026-12-01 11:24:17.171890
"""

import sqlalchemy as sa
from alembic import op

import govkit.db

revision = "identity_0005"
down_revision = "identity_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "country_record",
        sa.Column("country", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("official_name", sa.String(length=255), nullable=True),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("official_name_key", sa.String(length=255), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("entry_number", sa.BigInteger(), nullable=False),
        sa.Column("entry_timestamp", govkit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", govkit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("country", name=op.f("pk_country_record")),
    )
    with op.batch_alter_table("country_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_country_record_name_key"), ["name_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_country_record_official_name_key"), ["official_name_key"], unique=False
        )

    op.create_table(
        "postal_address",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("street_address", sa.String(length=1000), nullable=False),
        sa.Column("locality", sa.String(length=255), nullable=False),
        sa.Column("postal_code", sa.String(length=16), nullable=True),
        sa.Column("country", sa.String(length=64), nullable=False),
        sa.Column("updated_at", govkit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_postal_address_account_id_account")
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_postal_address")),
    )


def downgrade() -> None:
    op.drop_table("postal_address")
    with op.batch_alter_table("country_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_country_record_official_name_key"))
        batch_op.drop_index(batch_op.f("ix_country_record_name_key"))

    op.drop_table("country_record")
