"""Message read model, extractions, proposals, topics and atoms.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from tasktracker.knowledge.db.models import (
    AtomRow,
    ChatMessage,
    ExtractionRow,
    ProposalRow,
    TopicRow,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (ChatMessage, ExtractionRow, ProposalRow, TopicRow, AtomRow)


def upgrade() -> None:
    bind = op.get_bind()
    for model in TABLES:
        model.__table__.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for model in reversed(TABLES):
        model.__table__.drop(bind)
