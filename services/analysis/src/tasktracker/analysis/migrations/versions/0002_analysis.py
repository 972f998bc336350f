"""Read models (messages, project settings, approved knowledge), runs, batches, proposals.

Frozen DDL, written out column by column: a migration describes the schema as it was when it
was written, so a later change of `db/models.py` needs a migration of its own and can never
alter what this one creates (tests/service/test_migrations.py checks that models and
migrations agree).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The unclosed run statuses of tasktracker.contracts.states as of this revision.
UNCLOSED = "status IN ('completed', 'pending', 'reviewed', 'running')"


def _zero(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)


def _moment(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.Column("author_name", sa.Text(), nullable=False),
        sa.Column("author_username", sa.Text(), nullable=True),
        sa.Column("author_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        _moment("edited_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_messages_project_sent", "messages", ["project_id", "sent_at", "id"])

    op.create_table(
        "project_settings",
        sa.Column("project_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("batch_gap_minutes", sa.Integer(), nullable=False),
        sa.Column("batch_max_messages", sa.Integer(), nullable=False),
        sa.Column("analysis_concurrency", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
    )

    op.create_table(
        "knowledge",
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "kind", "item_id"),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("message_ids", sa.ARRAY(sa.BigInteger()), nullable=True),
        sa.Column("batch_sizes", sa.ARRAY(sa.Integer()), nullable=True),
        sa.Column("concurrency", sa.Integer(), server_default=sa.text("1"), nullable=False),
        _zero("batches_total"),
        _zero("batches_done"),
        _zero("proposals_total"),
        _zero("approved"),
        _zero("rejected"),
        _zero("merged"),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("metrics", postgresql.JSONB(), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        _moment("lease_until"),
        sa.Column("start_requested_by", sa.Text(), nullable=True),
        _moment("start_requested_at"),
        sa.Column("cancelled_by", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _moment("started_at"),
        _moment("finished_at"),
        _moment("closed_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_runs_project_created", "runs", ["project_id", "created_at", "id"])
    # At most one unclosed run per project, decided by PostgreSQL (DESIGN.md §4).
    op.create_index(
        "uq_runs_one_unclosed_per_project",
        "runs",
        ["project_id"],
        unique=True,
        postgresql_where=sa.text(UNCLOSED),
    )

    op.create_table(
        "run_batches",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
        sa.Column("message_ids", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("proposals", sa.Integer(), nullable=False),
        _zero("dropped_ids"),
        sa.Column(
            "committed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("run_id", "batch_index", name="uq_run_batch"),
    )

    op.create_table(
        "proposals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("tags", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("assignee", sa.Text(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("source_message_ids", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("edited", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        _moment("decided_at"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_proposals_run_status", "proposals", ["run_id", "status"])


def downgrade() -> None:
    for table in ("proposals", "run_batches", "runs", "knowledge", "project_settings", "messages"):
        op.drop_table(table)
