"""Chat binding codes; skipped updates keep why, and any update id.

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
    op.create_table(
        "bind_codes",
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_chat_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index(op.f("ix_bind_codes_project_id"), "bind_codes", ["project_id"], unique=False)
    op.alter_column(
        "skipped_updates", "update_id", type_=sa.Numeric(), existing_type=sa.BigInteger()
    )
    op.add_column("skipped_updates", sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("skipped_updates", "reason")
    op.execute(
        "DELETE FROM skipped_updates"
        " WHERE update_id NOT BETWEEN -9223372036854775808 AND 9223372036854775807"
    )
    op.alter_column(
        "skipped_updates", "update_id", type_=sa.BigInteger(), existing_type=sa.Numeric()
    )
    op.drop_index(op.f("ix_bind_codes_project_id"), table_name="bind_codes")
    op.drop_table("bind_codes")
