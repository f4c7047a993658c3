"""claim index: deliveries are indexed on (status, subscriber_id)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

The push claims the pending deliveries of the next few subscribers in subscriber order.
With only `ix_deliveries_status` the database read every pending row and sorted the
distinct subscriber ids in a temporary B-tree, so one claim cost 1.5 ms with 1,000
pending rows and 71 ms with 100,000 (a push over N subscribers was quadratic). On
`(status, subscriber_id)` the claim walks the index in order and stops after the
subscribers it takes, on SQLite and PostgreSQL alike.

`ix_deliveries_status` is a prefix of the new index, so it is dropped (one index fewer
to update per recorded send). Indexes only: no row is touched; the downgrade restores
the single-column index and drops the new one.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_status_subscriber_id", "deliveries", ["status", "subscriber_id"])
    op.drop_index("ix_deliveries_status", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.drop_index("ix_deliveries_status_subscriber_id", table_name="deliveries")
