"""Message read model, extractions, proposals, topics and atoms.

Frozen DDL, written out column by column: a migration describes the schema as it was when it
was written, so a later change of `db/models.py` needs a migration of its own and can never
alter what this one creates (tests/test_migrations.py checks that models and migrations agree).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("author_name", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_to_message_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "stored_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_messages_project_sent", "messages", ["project_id", "sent_at", "id"])

    op.create_table(
        "extractions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_ids", sa.ARRAY(sa.BigInteger()), nullable=True),
        sa.Column("message_ids", sa.ARRAY(sa.BigInteger()), nullable=True),
        sa.Column("message_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunks_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("chunks_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("topic_proposals", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("atom_proposals", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_extractions_project_created", "extractions", ["project_id", "created_at"])

    op.create_table(
        "proposals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("extraction_id", sa.UUID(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("keywords", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("topic_name", sa.Text(), nullable=True),
        sa.Column("topic_proposal_id", sa.UUID(), nullable=True),
        sa.Column("topic_id", sa.BigInteger(), nullable=True),
        sa.Column("source_message_ids", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("edited", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_id", sa.BigInteger(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(["extraction_id"], ["extractions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_proposals_project_created", "proposals", ["project_id", "created_at", "id"])
    # One pending topic proposal per name: a twin attaches to it instead.
    op.create_index(
        "uq_proposals_pending_topic_name",
        "proposals",
        ["project_id", "name_key"],
        unique=True,
        postgresql_where=sa.text("kind = 'topic' AND status = 'pending'"),
    )

    op.create_table(
        "topics",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("keywords", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("source_message_ids", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("proposal_id", sa.UUID(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name_key", name="uq_topics_name"),
    )

    op.create_table(
        "atoms",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("source_message_ids", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("proposal_id", sa.UUID(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(["topic_id"], ["topics.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_atoms_project_topic", "atoms", ["project_id", "topic_id", "id"])


def downgrade() -> None:
    for table in ("atoms", "topics", "proposals", "extractions", "messages"):
        op.drop_table(table)
