"""runtime state: the leader's lease, push requests, button state

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

- `leader_leases`: one row per duty ("scheduler"); the process holding an unexpired
  lease runs the scheduled jobs; `epoch` grows at every takeover (a fencing token).
- `push_requests`: a push an editor asked for (/publish), recorded by the process that
  got the command and run by the leader, who sends the summary back.
- `button_states`: what a button stands for when it does not fit in it (a search's
  query for its paging buttons), with an expiry, so any process answers a tap.

New tables only: no existing row is touched; downgrade drops the three tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leader_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("renewed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leader_leases")),
    )
    op.create_table(
        "push_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("reviews", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed')",
            name=op.f("ck_push_requests_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_requests")),
    )
    with op.batch_alter_table("push_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_requests_status"), ["status"], unique=False)
    op.create_table(
        "button_states",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_button_states")),
    )
    with op.batch_alter_table("button_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_button_states_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("button_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_button_states_expires_at"))
    op.drop_table("button_states")
    with op.batch_alter_table("push_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_requests_status"))
    op.drop_table("push_requests")
    op.drop_table("leader_leases")
