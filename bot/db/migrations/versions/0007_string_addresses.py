"""addresses: a subscriber's chat id is a string, whatever the channel

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A chat address is `(channel, address)`; Telegram's integer chat ids are one kind of
address, a WeChat OpenID (`o6_bmjrPTlm6_2sgVt7hMZOPfL2M`) another. `subscribers.chat_id`
becomes VARCHAR(64); existing ids are kept as their decimal text (`-100123` stays
`-100123`). `audit_log.actor` is a string already; no other column holds an address.

- PostgreSQL: `ALTER COLUMN ... TYPE ... USING`, in place; the unique constraint and
  the deliveries' foreign key are untouched.
- SQLite cannot change a column's type, so the table is rebuilt (SQLite's documented
  procedure: new table, copy, drop, rename). The drop would cascade to `deliveries`
  (ON DELETE CASCADE) with foreign keys on; env.py runs every migration with foreign
  keys off on SQLite and checks them (`PRAGMA foreign_key_check`) before committing.

The downgrade converts back to BIGINT and refuses, with the offending count and an
example, when some address is not an integer (a WeChat subscriber): there is no
integer to give it, and dropping the row silently would lose a reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDRESS_LENGTH = 64
_INTEGER = re.compile(r"-?[0-9]+")

#: Every column of `subscribers` but `chat_id`, in table order (as of 0005).
_OTHER_COLUMNS = (
    "channel",
    "chat_type",
    "language",
    "topics",
    "push_format",
    "status",
    "subscribed_at",
    "unsubscribed_at",
    "last_pushed_at",
    "created_at",
    "updated_at",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(sa.String(length=ADDRESS_LENGTH), "CAST(chat_id AS TEXT)")
    else:
        op.alter_column(
            "subscribers",
            "chat_id",
            type_=sa.String(length=ADDRESS_LENGTH),
            existing_type=sa.BigInteger(),
            existing_nullable=False,
            postgresql_using="chat_id::varchar",
        )


def downgrade() -> None:
    _refuse_non_integer_addresses()
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(sa.BigInteger(), "CAST(chat_id AS INTEGER)")
    else:
        op.alter_column(
            "subscribers",
            "chat_id",
            type_=sa.BigInteger(),
            existing_type=sa.String(length=ADDRESS_LENGTH),
            existing_nullable=False,
            postgresql_using="chat_id::bigint",
        )


def _refuse_non_integer_addresses() -> None:
    rows = op.get_bind().execute(sa.text("SELECT channel, chat_id FROM subscribers")).all()
    bad = [(channel, str(address)) for channel, address in rows if not _is_integer(address)]
    if bad:
        channel, address = bad[0]
        raise RuntimeError(
            f"cannot downgrade below 0007: {len(bad)} subscriber(s) have an address that is "
            f"not an integer (e.g. {channel}:{address}); before 0007 a chat id was a "
            "Telegram integer. Remove or export those subscribers first."
        )


def _is_integer(address: object) -> bool:
    return _INTEGER.fullmatch(str(address)) is not None


def _rebuild_sqlite(chat_id_type: sa.types.TypeEngine[Any], chat_id_expr: str) -> None:
    """SQLite's table rebuild; foreign keys are off here (see env.py), so dropping the
    old table does not cascade to its deliveries."""
    op.drop_index("ix_subscribers_status", table_name="subscribers")
    op.create_table(
        "_subscribers_new",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_id", chat_id_type, nullable=False),
        sa.Column("chat_type", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("push_format", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subscribed_at", sa.DateTime(), nullable=False),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
        sa.Column("last_pushed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "push_format IN ('digest', 'full')", name=op.f("ck_subscribers_push_format")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'unsubscribed', 'blocked')", name=op.f("ck_subscribers_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("channel", "chat_id", name="uq_subscribers_channel_chat_id"),
    )
    others = ", ".join(_OTHER_COLUMNS)
    op.execute(
        f"INSERT INTO _subscribers_new (id, chat_id, {others}) "
        f"SELECT id, {chat_id_expr}, {others} FROM subscribers"
    )
    op.drop_table("subscribers")
    op.rename_table("_subscribers_new", "subscribers")
    op.create_index("ix_subscribers_status", "subscribers", ["status"], unique=False)
