"""Button state in the store: what a button stands for when it does not fit in it.

A search's "next page" button needs the query back, and a query does not fit in a
button's data (Telegram's 64 bytes). The query is kept in `button_states` under a
short token with an expiry, so a tap answered by any process (another replica, or this
one after a restart) finds it; an expired or unknown token answers "expired".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ButtonState, utcnow

#: Expired rows are deleted once every this many remembered states (cheap, and keeps
#: the table to about the live buttons without a job of its own).
PRUNE_EVERY = 200
#: A remembered payload is written again (its expiry extended) at most this often by
#: one process; a row deleted behind its back is missed for at most this long.
REFRESH_SECONDS = 60.0
#: Tokens whose last write is remembered in memory (cleared beyond that).
_WRITTEN_SIZE = 10_000


class ButtonStateStore:
    def __init__(self, sessions: sessionmaker[Session], ttl_seconds: float) -> None:
        self._sessions = sessions
        self._ttl = dt.timedelta(seconds=ttl_seconds)
        self._remembered = 0
        #: token -> when this process last wrote it (time.monotonic()), see `remember`.
        self._written: dict[str, float] = {}

    def remember(self, kind: str, payload: dict[str, Any]) -> str:
        """A token for `payload`; the same payload gets the same token (its expiry is
        extended), so drawing one search's pages again adds no rows.

        A token this process wrote less than REFRESH_SECONDS ago is not written again:
        a popular search repeated by many readers was a write transaction per reader (a
        sixth of an answered update's time). Its row was written to live REFRESH_SECONDS
        beyond the TTL, so every button shown still works for at least the TTL."""
        token = _token(kind, payload)
        now = time.monotonic()
        written = self._written.get(token)
        if written is None or now - written >= REFRESH_SECONDS:
            self._store(token, payload, self._ttl + dt.timedelta(seconds=REFRESH_SECONDS))
            if len(self._written) >= _WRITTEN_SIZE:
                self._written.clear()
            self._written[token] = now
        self._remembered += 1
        if self._remembered % PRUNE_EVERY == 0:
            self.prune()
        return token

    def keep_for(self, owner: str, payload: dict[str, Any]) -> None:
        """Keep `payload` as `owner`'s current state, replacing the one before.

        For channels without buttons (WeChat): the numbered choices a reader was last
        offered are the reader's, not a button's, so the next message, answered by any
        process, finds them by who sent it (`recall_for`)."""
        self._store(_token("owner", {"owner": owner}), payload, self._ttl)

    def recall_for(self, owner: str) -> dict[str, Any] | None:
        """`owner`'s current state (see `keep_for`), or None if none is live."""
        return self.recall(_token("owner", {"owner": owner}))

    def _store(self, token: str, payload: dict[str, Any], ttl: dt.timedelta) -> None:
        """Insert or refresh the row behind `token` with `payload`, to expire in `ttl`. A
        token derived from its payload gets the same payload again; an owner's token
        gets the owner's new state."""
        expires = utcnow() + ttl
        refresh = (
            update(ButtonState)
            .where(ButtonState.token == token)
            .values(payload=payload, expires_at=expires)
        )
        with self._sessions() as session:
            if session.execute(refresh).rowcount == 0:  # type: ignore[attr-defined]
                session.add(
                    ButtonState(
                        token=token, payload=payload, created_at=utcnow(), expires_at=expires
                    )
                )
            try:
                session.commit()
            except IntegrityError:
                # Another process stored this token a moment ago: refresh its row.
                session.rollback()
                session.execute(refresh)
                session.commit()

    def recall(self, token: str) -> dict[str, Any] | None:
        """The payload behind `token`, or None if it is unknown or expired."""
        with self._sessions() as session:
            state = session.scalar(
                select(ButtonState).where(
                    ButtonState.token == token, ButtonState.expires_at > utcnow()
                )
            )
            return dict(state.payload) if state is not None else None

    def prune(self) -> int:
        """Delete expired states; returns how many."""
        with self._sessions() as session:
            result = session.execute(delete(ButtonState).where(ButtonState.expires_at <= utcnow()))
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]


def _token(kind: str, payload: dict[str, Any]) -> str:
    """12 hex digits: short enough for a button, a collision among live buttons is
    vanishingly unlikely (and would show another search's page, nothing worse)."""
    canonical = json.dumps([kind, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.blake2s(canonical.encode(), digest_size=6).hexdigest()
