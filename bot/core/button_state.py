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
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.message_writes import upsert, write
from bot.db.driver_reads import DriverRead
from bot.db.engine import read_only
from bot.db.models import ButtonState, utcnow

#: Expired rows are deleted once every this many remembered states (cheap, and keeps
#: the table to about the live buttons without a job of its own).
PRUNE_EVERY = 200
#: A payload-derived token is written again (its expiry extended) at most this often by
#: one process; its row lives this much beyond the TTL, so a repeated search (every
#: reader's "对齐") costs no write and every button shown still works for the whole TTL.
#: A row deleted behind this process's back is missed for at most this long.
REFRESH_SECONDS = 60.0
#: Tokens remembered as freshly stored (bounded; cleared when full).
_FRESH_SIZE = 10_000
_TABLE: Table = ButtonState.__table__  # type: ignore[assignment]
#: One column by primary key (a Core statement: no ORM object for a dict read once).
_PAYLOAD = select(_TABLE.c.payload).where(
    _TABLE.c.token == bindparam("token"), _TABLE.c.expires_at > bindparam("now")
)

#: The same read on the DBAPI connection (`DriverRead`): every choice and page button.
_READ_PAYLOAD = DriverRead(_PAYLOAD)


class ButtonStateStore:
    def __init__(self, sessions: sessionmaker[Session], ttl_seconds: float) -> None:
        self._sessions = sessions
        self._engine = sessions.kw["bind"]
        #: Recalls only read (a reader's choices, a page button's query): `read_only`.
        self._reads = read_only(self._engine)
        self._ttl = dt.timedelta(seconds=ttl_seconds)
        self._remembered = 0
        #: token -> when this process last stored it (time.monotonic()).
        self._fresh: dict[str, float] = {}

    def remember(self, kind: str, payload: dict[str, Any]) -> str:
        """A token for `payload`; the same payload gets the same token (its expiry is
        extended), so drawing one search's pages again adds no rows.

        A token this process stored less than REFRESH_SECONDS ago is not written again:
        a popular search repeated by many readers was a write transaction per reader (a
        sixth of an answered update's time)."""
        token = _token(kind, payload)
        stored = self._fresh.get(token)
        if stored is not None and time.monotonic() - stored < REFRESH_SECONDS:
            return token

        def stored_now() -> None:
            # Only once committed: a message whose writes were dropped stored nothing.
            if len(self._fresh) >= _FRESH_SIZE:
                self._fresh.clear()
            self._fresh[token] = time.monotonic()
            self._remembered += 1
            if self._remembered % PRUNE_EVERY == 0:
                self.prune()

        self._store(token, payload, dt.timedelta(seconds=REFRESH_SECONDS), stored_now)
        return token

    def keep_for(self, owner: str, payload: dict[str, Any]) -> None:
        """Keep `payload` as `owner`'s current state, replacing the one before.

        For channels without buttons (WeChat): the numbered choices a reader was last
        offered are the reader's, not a button's, so the next message, answered by any
        process, finds them by who sent it (`recall_for`)."""
        self._store(_token("owner", {"owner": owner}), payload, dt.timedelta(0))

    def recall_for(self, owner: str) -> dict[str, Any] | None:
        """`owner`'s current state (see `keep_for`), or None if none is live."""
        return self.recall(_token("owner", {"owner": owner}))

    def _store(
        self,
        token: str,
        payload: dict[str, Any],
        beyond_ttl: dt.timedelta,
        done: Callable[[], None] | None = None,
    ) -> None:
        """Insert or refresh the row behind `token` with `payload`, to expire `beyond_ttl`
        after the TTL. A
        token derived from its payload gets the same payload again; an owner's token
        gets the owner's new state. Written with the rest of the message's writes
        (`message_writes`), in one statement (an upsert: another process storing the
        same token a moment before is no conflict)."""

        def work(connection: Connection) -> Callable[[], None] | None:
            now = utcnow()
            values = {
                "token": token,
                "payload": payload,
                "created_at": now,
                "expires_at": now + self._ttl + beyond_ttl,
            }
            upsert(connection, _TABLE, values, ("token",), ("payload", "expires_at"))
            return done

        write(self._engine, work)

    def recall(self, token: str) -> dict[str, Any] | None:
        """The payload behind `token`, or None if it is unknown or expired."""
        row = _READ_PAYLOAD.first(self._reads, {"token": token, "now": utcnow()})
        return dict(row[0]) if row is not None and row[0] is not None else None

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
