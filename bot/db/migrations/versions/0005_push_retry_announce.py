"""push: failure kind and retry count on deliveries, announcement time on reviews

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

- `deliveries.error_kind` ("transient" or "final") says whether a failed delivery is
  worth another push; `deliveries.retry_runs` counts the pushes that re-queued it.
  Existing failures are classified from their `last_error` text: "gave up after N
  attempts" was a network error or a 5xx (transient); the rest are final.
- `reviews.announced_at`: when the review became due to subscribers. Reviews a push
  published from the queue, or an editor published, are announced; reviews imported
  as already published (the back catalogue) are not. Existing published reviews are
  announced (at their publish time) if they were pushed already (a delivery exists)
  or were published after they were created (from the queue or by an editor); a
  review born published by an import and never pushed is back catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD/DROP COLUMN, not batch mode: rebuilding `reviews` on SQLite
    # would drop the table its deliveries reference, and ON DELETE CASCADE with it.
    op.add_column("deliveries", sa.Column("error_kind", sa.String(length=16), nullable=True))
    op.add_column(
        "deliveries", sa.Column("retry_runs", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("reviews", sa.Column("announced_at", sa.DateTime(), nullable=True))

    op.execute(
        "UPDATE deliveries SET error_kind = CASE WHEN last_error LIKE 'gave up after%' "
        "THEN 'transient' ELSE 'final' END WHERE status = 'failed'"
    )
    op.execute(
        "UPDATE reviews SET announced_at = published_at "
        "WHERE status = 'published' AND published_at IS NOT NULL AND ("
        "published_at > created_at "
        "OR EXISTS (SELECT 1 FROM deliveries WHERE deliveries.review_id = reviews.id))"
    )


def downgrade() -> None:
    # SQLite >= 3.35 drops a plain column in place (see upgrade for why not batch mode).
    op.drop_column("reviews", "announced_at")
    op.drop_column("deliveries", "retry_runs")
    op.drop_column("deliveries", "error_kind")
