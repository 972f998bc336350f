"""A proposal a later batch of its run called off: the batch and the messages that did.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("proposals", sa.Column("withdrawn_in_batch", sa.Integer(), nullable=True))
    op.add_column("proposals", sa.Column("withdrawn_by", sa.ARRAY(sa.BigInteger()), nullable=True))


def downgrade() -> None:
    op.drop_column("proposals", "withdrawn_by")
    op.drop_column("proposals", "withdrawn_in_batch")
