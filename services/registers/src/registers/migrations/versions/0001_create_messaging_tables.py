"""Create the outbox and inbox tables of the registers service.

Revision ID: registers_0001
"""

from alembic import op

from govkit.outbox import create_messaging_tables, drop_messaging_tables

revision = "registers_0001"
down_revision = None


def upgrade() -> None:
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
