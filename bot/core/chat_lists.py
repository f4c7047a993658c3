"""The numbers a reader sees are the numbers that work: `/review N` opens item N of the
last list this chat was shown.

Why positions remembered per chat, not a public number per review: readers meet
reviews in lists (/latest, /classic, a search, their pages) numbered 1, 2, 3 …, and
`/help` says "/review 1" opens the first of them; a per-review number would have to be
printed beside every title and would still differ from the list's own 1, 2, 3. So
every list a chat is shown is stored (in the DB: any process, or this one after a
restart, answers the next `/review N`), pages of one list adding up (page 2 shows 6–10).
A chat that was never shown a list gets item N of /latest, the list /help points to.
Slugs and arXiv ids keep working as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.message_writes import upsert, write
from bot.db.driver_reads import DriverRead
from bot.db.engine import read_only
from bot.db.models import ChatList, utcnow

#: Lists remembered in memory to skip writing what the store already has.
_CACHE_SIZE = 10_000
_TABLE: Table = ChatList.__table__  # type: ignore[assignment]
#: Core statements over two columns: every message reads or writes a chat's list, and
#: the ORM's identity map and unit of work cost more than the query itself.
#: Built once, with the chat as parameters (`_chat`).
_ROW = select(_TABLE.c.list_key, _TABLE.c["items"]).where(  # `c.items` is the collection's own
    _TABLE.c.channel == bindparam("channel"), _TABLE.c.chat_id == bindparam("chat_id")
)

#: The same read on the DBAPI connection (`DriverRead`): it runs for every `/review N`.
_READ_ROW = DriverRead(_ROW)


class ChatListStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._engine = sessions.kw["bind"]
        #: What a chat was shown is read on every `/review N`, `1`: `read_only`.
        self._reads = read_only(self._engine)
        self._written: dict[tuple[str, str], tuple[str, dict[str, int]]] = {}

    def remember(
        self, channel: str, chat_id: str, list_key: str, first: int, review_ids: Sequence[int]
    ) -> None:
        """The chat was shown `review_ids` numbered from `first` in list `list_key`.

        Written with the rest of the message's writes (`message_writes`): one
        transaction per message, not one per store."""
        key = (channel, chat_id)
        shown = {str(first + index): review_id for index, review_id in enumerate(review_ids)}
        cached = self._written.get(key)
        if cached is not None and cached[0] == list_key and shown.items() <= cached[1].items():
            return

        def work(connection: Connection) -> Callable[[], None]:
            items = self._write(connection, channel, chat_id, list_key, shown)

            def done() -> None:
                if len(self._written) >= _CACHE_SIZE:
                    self._written.clear()
                self._written[key] = (list_key, items)

            return done

        write(self._engine, work)

    @staticmethod
    def _write(
        connection: Connection, channel: str, chat_id: str, list_key: str, shown: dict[str, int]
    ) -> dict[str, int]:
        row = connection.execute(_ROW, _chat(channel, chat_id)).first()
        if row is not None and row[0] == list_key:
            items = {**row[1], **shown}
            if items == row[1]:
                return items  # the same list again: nothing to write
        else:
            items = dict(shown)
        values: dict[str, Any] = {
            "channel": channel,
            "chat_id": chat_id,
            "list_key": list_key,
            "items": items,
            "updated_at": utcnow(),
        }
        upsert(
            connection, _TABLE, values, ("channel", "chat_id"), ("list_key", "items", "updated_at")
        )
        return items

    def _items(self, channel: str, chat_id: str) -> dict[str, int] | None:
        row = _READ_ROW.first(self._reads, _chat(channel, chat_id))
        return dict(row[1]) if row is not None else None

    def recall(self, channel: str, chat_id: str, number: int) -> int | None:
        """The review id shown as `number` in the chat's last list, if it was."""
        items = self._items(channel, chat_id)
        review_id = items.get(str(number)) if items is not None else None
        return int(review_id) if review_id is not None else None

    def number_of(self, channel: str, chat_id: str, review_id: int) -> int | None:
        """The number the chat's last list showed this review under, if any."""
        items = self._items(channel, chat_id)
        if items is None:
            return None
        numbers = [int(n) for n, shown in items.items() if shown == review_id]
        return min(numbers) if numbers else None


def _chat(channel: str, chat_id: str) -> dict[str, str]:
    return {"channel": channel, "chat_id": chat_id}
