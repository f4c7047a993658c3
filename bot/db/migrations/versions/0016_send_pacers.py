"""send_pacers: one send schedule per channel, shared by every sending process

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

- `send_pacers`: per channel, the next free send slot and the end of the shared 429
  pause (wall-clock seconds), so several processes pushing at once (replicas, or
  `paperbot push` beside the bot) stay within the channel's overall limit together
  (bot/core/pacer.py). Rows appear on a channel's first push.

New table only: no existing row is touched; downgrade drops it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_pacers",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("next_slot", sa.Double(), nullable=False),
        sa.Column("paused_until", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_send_pacers")),
    )


def downgrade() -> None:
    op.drop_table("send_pacers")
