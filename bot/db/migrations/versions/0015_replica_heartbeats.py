"""replicas: one heartbeat row per running `paperbot run` process

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

- `replicas`: each process's holder id (the one its leader lease would name), host,
  pid, version, HTTP address, role and the time of its last heartbeat, written every
  third of LEADER_LEASE_SECONDS, so `paperbot status` from any replica lists them all.
  The lease table has one row per duty (the leader's), not one per process.

New table only: no existing row is touched; downgrade drops it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_replicas")),
    )


def downgrade() -> None:
    op.drop_table("replicas")
