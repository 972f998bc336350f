"""The outbox: events committed with the state change, published by the relay.

Revision ID: 0001
"""

from alembic import op

from tasktracker.servicekit.outbox import OUTBOX_TABLE, create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_table(op)


def downgrade() -> None:
    op.drop_table(OUTBOX_TABLE)
