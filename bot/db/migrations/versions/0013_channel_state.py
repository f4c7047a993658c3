"""channel state: shared credentials and inbound messages already taken on

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

- `channel_credentials`: a channel's short-lived credential (WeChat's access_token)
  with its expiry, shared by all processes.
- `seen_inbound`: (channel, key) of each inbound message already handled, so a retried
  delivery (WeChat resends after 5 s, three times) is handled once across processes.

New tables only: no existing row is touched; downgrade drops them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_credentials",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "name", name=op.f("pk_channel_credentials")),
    )
    op.create_table(
        "seen_inbound",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "key", name=op.f("pk_seen_inbound")),
    )
    with op.batch_alter_table("seen_inbound", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_inbound_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen_inbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_inbound_seen_at"))
    op.drop_table("seen_inbound")
    op.drop_table("channel_credentials")
