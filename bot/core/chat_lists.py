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

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ChatList, utcnow

#: Lists remembered in memory to skip writing what the store already has.
_CACHE_SIZE = 10_000


class ChatListStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._written: dict[tuple[str, str], tuple[str, dict[str, int]]] = {}

    def remember(
        self, channel: str, chat_id: str, list_key: str, first: int, review_ids: Sequence[int]
    ) -> None:
        """The chat was shown `review_ids` numbered from `first` in list `list_key`."""
        key = (channel, chat_id)
        shown = {str(first + index): review_id for index, review_id in enumerate(review_ids)}
        cached = self._written.get(key)
        if cached is not None and cached[0] == list_key and shown.items() <= cached[1].items():
            return
        for attempt in range(2):
            try:
                items = self._write(channel, chat_id, list_key, shown)
                break
            except IntegrityError:  # another process inserted this chat's row first
                if attempt:
                    raise
        if len(self._written) >= _CACHE_SIZE:
            self._written.clear()
        self._written[key] = (list_key, items)

    def _write(
        self, channel: str, chat_id: str, list_key: str, shown: dict[str, int]
    ) -> dict[str, int]:
        with self.sessions.begin() as session:
            row = session.get(ChatList, (channel, chat_id))
            if row is None:
                row = ChatList(channel=channel, chat_id=chat_id, list_key=list_key, items={})
                session.add(row)
            items = {**row.items, **shown} if row.list_key == list_key else dict(shown)
            row.list_key, row.items, row.updated_at = list_key, items, utcnow()
            return items

    def recall(self, channel: str, chat_id: str, number: int) -> int | None:
        """The review id shown as `number` in the chat's last list, if it was."""
        with self.sessions() as session:
            row = session.get(ChatList, (channel, chat_id))
            if row is None:
                return None
            review_id = row.items.get(str(number))
            return int(review_id) if review_id is not None else None

    def number_of(self, channel: str, chat_id: str, review_id: int) -> int | None:
        """The number the chat's last list showed this review under, if any."""
        with self.sessions() as session:
            row = session.get(ChatList, (channel, chat_id))
            if row is None:
                return None
            numbers = [int(n) for n, shown in row.items.items() if shown == review_id]
            return min(numbers) if numbers else None
