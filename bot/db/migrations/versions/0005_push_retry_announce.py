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
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("retry_runs", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("announced_at", sa.DateTime(), nullable=True))

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
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_column("announced_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("retry_runs")
        batch_op.drop_column("error_kind")
