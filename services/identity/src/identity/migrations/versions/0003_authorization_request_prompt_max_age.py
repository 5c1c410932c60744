"""Keep prompt and max_age of an authorization request (OIDC Core section 3.1.2.1).

Revision ID: identity_0003
Revises: identity_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "identity_0003"
down_revision = "identity_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorization_request") as batch:
        batch.add_column(sa.Column("prompt", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("max_age", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorization_request") as batch:
        batch.drop_column("max_age")
        batch.drop_column("prompt")
