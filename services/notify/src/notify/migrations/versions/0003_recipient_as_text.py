"""A letter's recipient is its whole address (up to seven lines joined by new lines), so
the recipient columns are text without a length: on PostgreSQL an address over 320
characters failed the insert with a 500 (Notify's own ``to`` column has no length).

Revision ID: notify_0003
Revises: notify_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "notify_0003"
down_revision = "notify_0002"
branch_labels = None
depends_on = None

#: (table, column, nullable) of each recipient column
COLUMNS = [("notification", "recipient", True), ("sandbox_message", "recipient", False)]


def upgrade() -> None:
    for table, column, nullable in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column, type_=sa.Text(), existing_type=sa.String(320), existing_nullable=nullable
            )


def downgrade() -> None:
    for table, column, nullable in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column, type_=sa.String(320), existing_type=sa.Text(), existing_nullable=nullable
            )
