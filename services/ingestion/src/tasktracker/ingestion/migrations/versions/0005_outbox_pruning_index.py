"""The outbox's BRIN index on published_at, by which the relay prunes published rows.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from tasktracker.servicekit.outbox import (
    create_outbox_pruning_index,
    drop_outbox_pruning_index,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_pruning_index(op)


def downgrade() -> None:
    drop_outbox_pruning_index(op)
