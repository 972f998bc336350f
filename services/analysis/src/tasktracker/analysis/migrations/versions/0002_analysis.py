"""Read models (messages, project settings, approved knowledge), runs, batches, proposals.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from tasktracker.analysis.db.models import (
    BatchRow,
    ChatMessage,
    KnowledgeRow,
    ProjectSettingsRow,
    ProposalRow,
    RunRow,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (ChatMessage, ProjectSettingsRow, KnowledgeRow, RunRow, BatchRow, ProposalRow)


def upgrade() -> None:
    bind = op.get_bind()
    for model in TABLES:
        model.__table__.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for model in reversed(TABLES):
        model.__table__.drop(bind)
