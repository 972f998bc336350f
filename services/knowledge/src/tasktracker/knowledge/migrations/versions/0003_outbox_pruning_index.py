"""The outbox's BRIN index on published_at, by which the relay prunes published rows.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from tasktracker.servicekit.outbox import (
    create_outbox_pruning_index,
    drop_outbox_pruning_index,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_pruning_index(op)


def downgrade() -> None:
    drop_outbox_pruning_index(op)
