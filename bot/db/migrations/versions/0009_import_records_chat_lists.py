"""import records and chat lists

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

- `review_imports`: what the last import of each source (a file) wrote into each
  review, so an import keeps fields corrected in the store since (issue #12.4).
- `chat_lists`: the last list of reviews each chat was shown, so `/review N` opens
  item N of that list (issue #12.3).

New tables only: no existing row is touched; downgrade drops both. A store upgraded
from before has no import records: its next import of a source treats every field
that differs as corrected in the store (kept, printed, `--overwrite` applies it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_review_imports_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_imports")),
        sa.UniqueConstraint("review_id", "source", name="uq_review_imports_review_id_source"),
    )
    op.create_table(
        "chat_lists",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("list_key", sa.String(length=200), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "chat_id", name=op.f("pk_chat_lists")),
    )


def downgrade() -> None:
    op.drop_table("chat_lists")
    op.drop_table("review_imports")
