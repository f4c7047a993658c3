"""Broadcast pushes: a channel that reaches all its followers with ONE message (WeChat's
mass send) instead of one delivery per subscriber.

The core walks each broadcast through the states of its `broadcasts` row, committing
each before the next call to the channel: planned -> draft_created (draft_id) -> sent
(message_id) -> finished (the channel's final counts), or failed (a reason). A crash
anywhere and a restart resume the same row: the stored draft is reused, and the row's
`push_key` is handed to the channel as its idempotency key (WeChat's `clientmsgid`), so
a send that did happen before the crash is not repeated. The reviews of a broadcast are
those announced and not carried by an earlier broadcast that was sent on that channel.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Broadcast, Review, utcnow

log = logging.getLogger(__name__)

SENT_STATES = ("sent", "finished")
#: A broadcast carries the reviews announced in this window that no sent broadcast
#: carried: a weekly push, with a day of slack for a late or resumed run.
ANNOUNCED_WINDOW = dt.timedelta(days=8)


class BroadcastError(Exception):
    """The channel refused the broadcast; `reason` is what the editors are told."""

    def __init__(self, reason: str, *, retry_later: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_later = retry_later


class Broadcaster(Protocol):
    """A channel's side of a broadcast push."""

    channel: str

    async def create_draft(self, push_key: str, reviews: Sequence[Any], language: str) -> str: ...

    async def preview(self, draft_id: str) -> None: ...

    async def send(self, draft_id: str, push_key: str) -> str: ...


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    channel: str
    broadcast_id: int | None
    status: str
    review_ids: tuple[int, ...] = ()
    message_id: str | None = None
    error: str | None = None

    def describe(self) -> str:
        if self.broadcast_id is None:
            return f"{self.channel} broadcast: nothing new to send"
        text = f"{self.channel} broadcast #{self.broadcast_id}: {self.status}"
        text += f", {len(self.review_ids)} reviews"
        if self.message_id:
            text += f", message {self.message_id}"
        if self.error:
            text += f" ({self.error})"
        return text


class BroadcastService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def announced_ids(self, now: dt.datetime | None = None) -> list[int]:
        """Published reviews announced within ANNOUNCED_WINDOW, oldest first."""
        since = (now or utcnow()) - ANNOUNCED_WINDOW
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(Review.id)
                    .where(Review.status == "published", Review.announced_at >= since)
                    .order_by(Review.announced_at, Review.id)
                )
            )

    def open_or_plan(
        self, channel: str, announced_ids: Sequence[int], max_items: int | None = None
    ) -> Broadcast | None:
        """The unfinished broadcast of this channel, else a new one with the reviews no
        sent broadcast carried; None when there is nothing to send."""
        with self._sessions() as session:
            rows = session.scalars(select(Broadcast).where(Broadcast.channel == channel)).all()
            for row in rows:
                if row.status in ("planned", "draft_created"):
                    session.expunge(row)
                    return row
            carried = {rid for row in rows if row.status in SENT_STATES for rid in row.review_ids}
            new = sorted(rid for rid in announced_ids if rid not in carried)
            # What one message cannot hold waits for the next broadcast (not marked
            # as carried).
            new = new[:max_items] if max_items else new
            if not new:
                return None
            row = Broadcast(
                channel=channel,
                push_key=f"paperbot-{channel}-{new[0]}-{new[-1]}-{len(new)}",
                review_ids=new,
                status="planned",
            )
            session.add(row)
            session.commit()
            session.refresh(row)
            session.expunge(row)
            return row

    def _update(self, broadcast_id: int, **values: Any) -> None:
        with self._sessions() as session:
            row = session.get(Broadcast, broadcast_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.commit()

    async def run(
        self,
        broadcaster: Broadcaster,
        announced: Sequence[Any],
        language: str = "zh",
    ) -> BroadcastResult:
        """One broadcast of `announced` reviews (objects with `.id`) not yet carried."""
        channel = broadcaster.channel
        row = self.open_or_plan(
            channel, [review.id for review in announced], getattr(broadcaster, "max_items", None)
        )
        if row is None:
            return BroadcastResult(channel, None, "nothing")
        reviews = [review for review in announced if review.id in set(row.review_ids)]
        ids = tuple(row.review_ids)
        try:
            draft_id = row.draft_id
            if draft_id is None:
                draft_id = await broadcaster.create_draft(row.push_key, reviews, language)
                self._update(row.id, draft_id=draft_id, status="draft_created")
                await broadcaster.preview(draft_id)
            message_id = await broadcaster.send(draft_id, row.push_key)
        except BroadcastError as exc:
            if not exc.retry_later:
                self._update(row.id, status="failed", error=exc.reason)
            log.error("%s broadcast #%d failed: %s", channel, row.id, exc.reason)
            return BroadcastResult(channel, row.id, "failed", ids, error=exc.reason)
        self._update(row.id, status="sent", message_id=message_id)
        log.info("%s broadcast #%d sent as message %s", channel, row.id, message_id)
        return BroadcastResult(channel, row.id, "sent", ids, message_id)

    def finished(self, channel: str, message_id: str, counts: dict[str, int]) -> bool:
        """The channel's report that the job ended (WeChat's MASSSENDJOBFINISH)."""
        with self._sessions() as session:
            row = session.scalars(
                select(Broadcast).where(
                    Broadcast.channel == channel, Broadcast.message_id == message_id
                )
            ).first()
            if row is None:
                return False
            row.status = "finished"
            row.total_count = counts.get("total")
            row.filter_count = counts.get("filter")
            row.sent_count = counts.get("sent")
            row.error_count = counts.get("error")
            row.updated_at = utcnow()
            session.commit()
            return True

    def recent(self, channel: str, limit: int = 5) -> list[Broadcast]:
        with self._sessions() as session:
            rows = session.scalars(
                select(Broadcast)
                .where(Broadcast.channel == channel)
                .order_by(Broadcast.id.desc())
                .limit(limit)
            ).all()
            for row in rows:
                session.expunge(row)
            return list(rows)
