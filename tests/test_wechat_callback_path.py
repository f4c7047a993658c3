"""What the callback path skips to be cheaper, and that skipping changes no answer: a
search token this process stored a moment ago is not written again (its row already
holds that payload, alive a minute beyond its TTL: bot/core/button_state.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Core
from bot.core.button_state import ButtonStateStore
from bot.db.models import ButtonState, utcnow


def _expiry(sessions: sessionmaker[Session], token: str) -> dt.datetime | None:
    with sessions() as session:
        return session.scalar(select(ButtonState.expires_at).where(ButtonState.token == token))


def _set_expiry(sessions: sessionmaker[Session], token: str, when: dt.datetime) -> None:
    with sessions() as session:
        session.execute(
            update(ButtonState).where(ButtonState.token == token).values(expires_at=when)
        )
        session.commit()


def test_a_token_stored_a_moment_ago_is_not_written_again(core: Core) -> None:
    store = ButtonStateStore(core.sessions, ttl_seconds=3600)
    token = store.remember("search", {"query": "对齐"})
    marker = (utcnow() + dt.timedelta(minutes=50)).replace(microsecond=0)
    _set_expiry(core.sessions, token, marker)
    assert store.remember("search", {"query": "对齐"}) == token
    assert _expiry(core.sessions, token) == marker  # no write: the marker is still there
    assert store.recall(token) == {"query": "对齐"}
    # Another process (its own store object) writes as before, and so does a new query.
    other = ButtonStateStore(core.sessions, ttl_seconds=3600)
    assert other.remember("search", {"query": "对齐"}) == token
    assert _expiry(core.sessions, token) != marker
    fresh = store.remember("search", {"query": "RLHF"})
    assert store.recall(fresh) == {"query": "RLHF"}


def test_owner_state_is_always_written(core: Core) -> None:
    """A follower's choices change with every list: never skipped."""
    store = ButtonStateStore(core.sessions, ttl_seconds=3600)
    store.keep_for("wechat:o1", {"choices": {"1": "r:1"}})
    store.keep_for("wechat:o1", {"choices": {"1": "r:2"}})
    assert store.recall_for("wechat:o1") == {"choices": {"1": "r:2"}}
