"""Subscribers: who gets the weekly push, in which language, format and topics.

A row exists for every chat that ever subscribed; its status says whether it is
`active`, chose to `unsubscribe`, or `blocked` the bot (or was kicked from a group).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.driver_reads import DriverRead
from bot.db.engine import read_only
from bot.db.models import Subscriber, utcnow

PUSH_FORMATS = ("digest", "full")
LANGUAGES = ("zh", "en")
#: Every message asks which language its chat chose; remembering the answer briefly
#: saves a query per message. Changes made here are seen at once, changes made by
#: another replica within this many seconds.
LANGUAGE_CACHE_SECONDS = 30.0
LANGUAGE_CACHE_SIZE = 100_000


#: A chat's chosen language, built once (the chat as parameters).
_LANGUAGE = select(Subscriber.language).where(
    Subscriber.channel == bindparam("channel"), Subscriber.chat_id == bindparam("chat_id")
)
#: The same read on the DBAPI connection (`DriverRead`).
_READ_LANGUAGE = DriverRead(_LANGUAGE)


@dataclass(frozen=True)
class SubscriberView:
    id: int
    channel: str
    chat_id: str
    chat_type: str
    language: str
    topics: tuple[str, ...]
    push_format: str
    status: str
    subscribed_at: dt.datetime

    @classmethod
    def of(cls, row: Subscriber) -> SubscriberView:
        return cls(
            id=row.id,
            channel=row.channel,
            chat_id=row.chat_id,
            chat_type=row.chat_type,
            language=row.language,
            topics=tuple(row.topics or ()),
            push_format=row.push_format,
            status=row.status,
            subscribed_at=row.subscribed_at,
        )

    @classmethod
    def of_columns(cls, row: Sequence[Any]) -> SubscriberView:
        """From a row of `VIEW_COLUMNS`, in their order."""
        (id_, channel, chat_id, chat_type, language, topics, push_format, status, since) = row
        return cls(
            id=id_,
            channel=channel,
            chat_id=chat_id,
            chat_type=chat_type,
            language=language,
            topics=tuple(topics or ()),
            push_format=push_format,
            status=status,
            subscribed_at=since,
        )

    @property
    def is_active(self) -> bool:
        return self.status == "active"


#: What a `SubscriberView` is made of, to read it without building the ORM object.
VIEW_COLUMNS = (
    Subscriber.id,
    Subscriber.channel,
    Subscriber.chat_id,
    Subscriber.chat_type,
    Subscriber.language,
    Subscriber.topics,
    Subscriber.push_format,
    Subscriber.status,
    Subscriber.subscribed_at,
)


class SubscriberRepository:
    """Queries over subscribers; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def views(self, ids: Collection[int]) -> dict[int, SubscriberView]:
        """The subscribers `ids` as views, by id, read as plain rows: the push reads a
        batch per claim, and building ORM objects for them was a third of the claim."""
        rows = self.session.execute(select(*VIEW_COLUMNS).where(Subscriber.id.in_(ids)))
        return {row[0]: SubscriberView.of_columns(row) for row in rows}

    def find(self, channel: str, chat_id: str) -> Subscriber | None:
        query = select(Subscriber).where(
            Subscriber.channel == channel, Subscriber.chat_id == chat_id
        )
        return self.session.scalar(query)

    def add(self, subscriber: Subscriber) -> None:
        self.session.add(subscriber)

    def delete(self, subscriber: Subscriber) -> None:
        self.session.delete(subscriber)

    def counts_by_status(self, excluded_channels: Collection[str] = ()) -> dict[str, int]:
        query = select(Subscriber.status, func.count(Subscriber.id)).group_by(Subscriber.status)
        if excluded_channels:
            query = query.where(Subscriber.channel.not_in(list(excluded_channels)))
        return {status: int(count) for status, count in self.session.execute(query).all()}

    def active(self, channel: str | None = None) -> Sequence[Subscriber]:
        query = select(Subscriber).where(Subscriber.status == "active")
        if channel:
            query = query.where(Subscriber.channel == channel)
        return self.session.scalars(query.order_by(Subscriber.id)).all()


def wants(subscriber_topics: Sequence[str], review_tags: Sequence[str]) -> bool:
    """Whether a push sends this review to this reader.

    No chosen topics means every review. A review without tags goes to every reader
    too, whatever their topics: it says nothing that could exclude it, and a reader
    who chose topics must not silently miss whatever the editors forgot to tag.
    Otherwise a review with any chosen tag.
    """
    if not subscriber_topics or not review_tags:
        return True
    return bool(set(subscriber_topics) & set(review_tags))


@dataclass(frozen=True)
class Reach:
    """How many active subscribers a review with these tags would reach, of how many."""

    readers: int
    active: int

    @property
    def missed(self) -> int:
        return self.active - self.readers


@dataclass(frozen=True)
class SubscribeOutcome:
    subscriber: SubscriberView
    #: "new", "resumed" (was unsubscribed or blocked) or "already"
    change: str


class SubscriptionService:
    """Use cases over subscribers; each method is one transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], uncounted_channels: Collection[str] = ()
    ) -> None:
        self.sessions = sessions
        self._engine = sessions.kw["bind"]
        #: A new chat's language is read on the event loop, for every message: `read_only`.
        self._reads = read_only(self._engine)
        #: Channels whose "subscribers" are no readers (the operator's terminal): they
        #: keep their settings but are not counted in /stats or "N subscribers".
        self.uncounted_channels = frozenset(uncounted_channels)
        self._languages: dict[tuple[str, str], tuple[str | None, float]] = {}

    def get(self, channel: str, chat_id: str) -> SubscriberView | None:
        with self.sessions() as session:
            row = SubscriberRepository(session).find(channel, chat_id)
            return SubscriberView.of(row) if row else None

    def language_of(self, channel: str, chat_id: str) -> str | None:
        """The language a chat chose in /settings, if it chose one."""
        now = time.monotonic()
        cached = self._languages.get((channel, chat_id))
        if cached is not None and cached[1] > now:
            return cached[0]
        # One column through Core: no ORM object for a value asked of every new chat.
        row = _READ_LANGUAGE.first(self._reads, {"channel": channel, "chat_id": chat_id})
        language: str | None = row[0] if row is not None else None
        if len(self._languages) >= LANGUAGE_CACHE_SIZE:
            self._languages.clear()
        self._languages[(channel, chat_id)] = (language, now + LANGUAGE_CACHE_SECONDS)
        return language

    def _forget(self, channel: str, *chat_ids: str) -> None:
        for chat_id in chat_ids:
            self._languages.pop((channel, chat_id), None)

    def subscribe(
        self, channel: str, chat_id: str, chat_type: str = "private", language: str = "zh"
    ) -> SubscribeOutcome:
        now = utcnow()
        self._forget(channel, chat_id)
        with self.sessions.begin() as session:
            repo = SubscriberRepository(session)
            row = repo.find(channel, chat_id)
            if row is None:
                chosen = language if language in LANGUAGES else "zh"
                row = _new_subscriber(channel, chat_id, chat_type, chosen, "active", now)
                repo.add(row)
                session.flush()
                return SubscribeOutcome(SubscriberView.of(row), "new")
            if row.status == "active":
                return SubscribeOutcome(SubscriberView.of(row), "already")
            # Pushes start from now: a returning reader is not flooded with the
            # reviews published while they were away (they can browse /latest).
            row.status, row.subscribed_at, row.updated_at = "active", now, now
            row.unsubscribed_at = None
            row.chat_type = chat_type
            return SubscribeOutcome(SubscriberView.of(row), "resumed")

    def unsubscribe(self, channel: str, chat_id: str) -> bool:
        """True when a subscription was ended; False when there was none to end."""
        with self.sessions.begin() as session:
            row = SubscriberRepository(session).find(channel, chat_id)
            if row is None or row.status != "active":
                return False
            now = utcnow()
            row.status, row.unsubscribed_at, row.updated_at = "unsubscribed", now, now
            return True

    def update_preferences(
        self,
        channel: str,
        chat_id: str,
        *,
        language: str | None = None,
        push_format: str | None = None,
        topics: list[str] | None = None,
        chat_type: str = "private",
    ) -> SubscriberView:
        """Change settings; a chat without a row gets one (not subscribed) to hold them."""
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}")
        if push_format is not None and push_format not in PUSH_FORMATS:
            raise ValueError(f"unknown push format {push_format!r}")
        now = utcnow()
        self._forget(channel, chat_id)
        with self.sessions.begin() as session:
            repo = SubscriberRepository(session)
            row = repo.find(channel, chat_id)
            if row is None:
                row = _new_subscriber(
                    channel, chat_id, chat_type, language or "zh", "unsubscribed", now
                )
                repo.add(row)
            if language is not None:
                row.language = language
            if push_format is not None:
                row.push_format = push_format
            if topics is not None:
                row.topics = sorted(set(topics))
            row.updated_at = now
            session.flush()
            return SubscriberView.of(row)

    # membership changes reported by the channel

    def chat_blocked(self, channel: str, chat_id: str) -> bool:
        """The reader blocked the bot (or the group removed it): stop pushing to them."""
        with self.sessions.begin() as session:
            row = SubscriberRepository(session).find(channel, chat_id)
            if row is None or row.status != "active":
                return False
            row.status, row.updated_at = "blocked", utcnow()
            return True

    def chat_returned(self, channel: str, chat_id: str) -> bool:
        """A reader who had blocked the bot came back: their subscription resumes."""
        with self.sessions.begin() as session:
            row = SubscriberRepository(session).find(channel, chat_id)
            if row is None or row.status != "blocked":
                return False
            row.status, row.updated_at = "active", utcnow()
            return True

    def chat_migrated(
        self, channel: str, old_chat_id: str, new_chat_id: str, chat_type: str | None = None
    ) -> bool:
        """The chat moved to a new address (the channel may say what it became, e.g. a
        group that is now a bigger kind of group); the subscription moves with it."""
        self._forget(channel, old_chat_id, new_chat_id)
        with self.sessions.begin() as session:
            repo = SubscriberRepository(session)
            row = repo.find(channel, old_chat_id)
            if row is None:
                return False
            existing = repo.find(channel, new_chat_id)
            if existing is not None:
                repo.delete(existing)
                session.flush()
            row.chat_id, row.updated_at = new_chat_id, utcnow()
            if chat_type is not None:
                row.chat_type = chat_type
            return True

    def counts_by_status(self) -> dict[str, int]:
        with self.sessions() as session:
            return SubscriberRepository(session).counts_by_status(self.uncounted_channels)

    def reach(self, tags: Sequence[str]) -> Reach:
        """The active subscribers (every channel) whose topics a review with `tags`
        matches, by the push's own rule (`wants`): the editor's warning before queuing."""
        with self.sessions() as session:
            topics = session.scalars(select(Subscriber.topics).where(Subscriber.status == "active"))
            chosen = [list(row or ()) for row in topics]
        return Reach(sum(1 for row in chosen if wants(row, tags)), len(chosen))


def _new_subscriber(
    channel: str, chat_id: str, chat_type: str, language: str, status: str, now: dt.datetime
) -> Subscriber:
    return Subscriber(
        channel=channel,
        chat_id=chat_id,
        chat_type=chat_type,
        language=language,
        topics=[],
        push_format="digest",
        status=status,
        subscribed_at=now,
        created_at=now,
        updated_at=now,
    )
