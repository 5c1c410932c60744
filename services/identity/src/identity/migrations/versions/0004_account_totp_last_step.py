"""Keep the time step of the last authenticator app code accepted, so that no code is
accepted twice (RFC 6238 section 5.2).

Revision ID: identity_0004
Revises: identity_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0004"
down_revision = "identity_0003"
branch_labels = None
depends_on = None

#: ``Account.totp_last_step``: an RFC 6238 time step (``T``), none until a code is accepted.
TABLE, COLUMN = "account", "totp_last_step"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column(COLUMN, sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column(COLUMN)
