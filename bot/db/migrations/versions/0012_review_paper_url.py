"""reviews.paper_url: the link of a paper that is not on arXiv (OpenReview, ACL Anthology)

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-02

One nullable column; existing rows keep NULL (their link is their arXiv id). The
downgrade drops it, and refuses (changing nothing) while a review has such a link, as
the link would be lost: before 0012 a review's only link was its arXiv id.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("paper_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    count = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM reviews WHERE paper_url IS NOT NULL")
    )
    if count:
        raise RuntimeError(
            f"cannot downgrade below 0012: {count} review(s) link a paper that is not on "
            "arXiv (reviews.paper_url), which the older schema cannot hold. Export them "
            "(paperbot export) and remove them first."
        )
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("paper_url")
