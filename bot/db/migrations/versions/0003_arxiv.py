"""arXiv watcher: feed state per category, cached API records, candidate feedback

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "arxiv_feed_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("etag", sa.String(length=256), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_entry_count", sa.Integer(), nullable=False),
        sa.Column("consecutive_errors", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arxiv_feed_state")),
        sa.UniqueConstraint("category", name=op.f("uq_arxiv_feed_state_category")),
    )
    op.create_table(
        "arxiv_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arxiv_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=1000), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("primary_category", sa.String(length=32), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("revised_at", sa.DateTime(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arxiv_records")),
        sa.UniqueConstraint("arxiv_id", name=op.f("uq_arxiv_records_arxiv_id")),
    )
    with op.batch_alter_table("arxiv_candidates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signals", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("review_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("alerted_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_arxiv_candidates_review_id_reviews"),
            "reviews",
            ["review_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            batch_op.f("ix_arxiv_candidates_first_seen_at"), ["first_seen_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("arxiv_candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_arxiv_candidates_first_seen_at"))
        batch_op.drop_constraint(
            batch_op.f("fk_arxiv_candidates_review_id_reviews"), type_="foreignkey"
        )
        batch_op.drop_column("alerted_at")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("review_id")
        batch_op.drop_column("signals")
    op.drop_table("arxiv_records")
    op.drop_table("arxiv_feed_state")
