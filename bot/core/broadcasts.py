"""Broadcast pushes: a channel that reaches all its followers with ONE message (WeChat's
mass send) instead of one delivery per subscriber.

The core walks each broadcast through the states of its `broadcasts` row, committing
each before the next call to the channel: planned -> draft_created (draft_id) -> sent
(message_id) -> finished (the channel's final counts), or failed (a reason). A crash
anywhere and a restart resume the same row: the stored draft is reused, and the row's
`push_key` is handed to the channel as its idempotency key (WeChat's `clientmsgid`), so
a send that did happen before the crash is not repeated. The reviews of a broadcast are
those announced and not carried by an earlier broadcast that was sent on that channel.

A refusal the channel calls final (a quota, no permission) fails the row; the next push
plans the same reviews again under a new key (`-2`, `-3`: WeChat refuses a repeated
`clientmsgid` only for a send that happened, which a final refusal was not). A refusal
that may pass (the API busy or unreachable, the answer lost) leaves the row open, so the
next push resumes it with the same key: the send may have happened. A broadcast never
raises into the push (`BroadcastService.push`): the other channels' deliveries go on,
and the outcome is in the push's summary. A push stopped by its fence (this process no
longer leads) sends nothing more: the new leader's push resumes the row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Broadcast, Review, utcnow
from bot.db.retry import is_transient

log = logging.getLogger(__name__)

SENT_STATES = ("sent", "finished")
OPEN_STATES = ("planned", "draft_created")
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
    """A channel's side of a broadcast push (a channel plug-in declares one as its
    `broadcaster`). `max_items`: how many reviews one message holds (None: any)."""

    channel: str

    @property
    def max_items(self) -> int | None: ...

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
    #: The channel's final counts (total, filter, sent, error) once the job finished.
    counts: dict[str, int | None] | None = None
    #: Stopped because this process no longer leads (the new leader's push resumes it).
    deposed: bool = False

    @property
    def failed(self) -> bool:
        """Not sent this time: refused for good (`failed`) or left to resume (`waiting`)."""
        return self.status in ("failed", "waiting")

    def describe(self) -> str:
        """The broadcast's part of the push's English summary (the shell and the log)."""
        if self.broadcast_id is None and self.status == "nothing":
            return f"{self.channel} broadcast: nothing new to send"
        number = f" #{self.broadcast_id}" if self.broadcast_id is not None else ""
        text = f"{self.channel} broadcast{number}: {self.status}"
        text += f", {len(self.review_ids)} reviews"
        if self.message_id:
            text += f", message {self.message_id}"
        if self.counts:
            text += ", " + describe_counts(self.counts)
        if self.error:
            text += f" ({self.error})"
        return text


@dataclass(frozen=True, slots=True)
class FinishedBroadcast:
    """A broadcast the channel just reported finished, for the editors' notice."""

    channel: str
    broadcast_id: int
    review_ids: tuple[int, ...]
    message_id: str
    status: str
    counts: dict[str, int | None]


def describe_counts(counts: dict[str, int | None]) -> str:
    return ", ".join(
        f"{name} {counts.get(name) if counts.get(name) is not None else '?'}"
        for name in ("total", "filter", "sent", "error")
    )


#: The published reviews among these ids, in that order (`ReviewService.published_by_ids`).
ReviewLoader = Callable[[Sequence[int]], Sequence[Any]]
#: Is this process's leadership still current? (the push's fence)
StillLeading = Callable[[], bool]


class BroadcastService:
    def __init__(
        self, sessions: sessionmaker[Session], reviews: ReviewLoader | None = None
    ) -> None:
        self._sessions = sessions
        self._reviews = reviews

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
        sent broadcast carried; None when there is nothing to send. Two processes
        planning at once plan one row (the unique key): the loser takes the winner's."""
        try:
            return self._open_or_plan(channel, announced_ids, max_items)
        except IntegrityError:
            log.info("%s broadcast planned by another process at once: taking it", channel)
            return self._open_or_plan(channel, announced_ids, max_items)

    def _open_or_plan(
        self, channel: str, announced_ids: Sequence[int], max_items: int | None
    ) -> Broadcast | None:
        with self._sessions() as session:
            rows = session.scalars(
                select(Broadcast).where(Broadcast.channel == channel).order_by(Broadcast.id)
            ).all()
            for row in rows:
                if row.status in OPEN_STATES:
                    session.expunge(row)
                    return row
            carried = {rid for row in rows if row.status in SENT_STATES for rid in row.review_ids}
            new = sorted(rid for rid in announced_ids if rid not in carried)
            # What one message cannot hold waits for the next broadcast (not marked
            # as carried).
            new = new[:max_items] if max_items else new
            if not new:
                return None
            key = f"paperbot-{channel}-{new[0]}-{new[-1]}-{len(new)}"
            # A failed broadcast of the same reviews was never sent: a new key, so the
            # channel's dedupe does not take this one for a repeat of it.
            taken = {row.push_key for row in rows}
            attempt = 1
            push_key = key
            while push_key in taken:
                attempt += 1
                push_key = f"{key}-{attempt}"
            row = Broadcast(channel=channel, push_key=push_key, review_ids=new, status="planned")
            session.add(row)
            session.commit()
            session.refresh(row)
            session.expunge(row)
            return row

    def unfinished(self, channel: str) -> bool:
        """Has this channel a broadcast planned or drafted but not sent (a push died or
        stopped on the way)? A new leader catches up on it at once."""
        with self._sessions() as session:
            found = session.scalar(
                select(Broadcast.id)
                .where(Broadcast.channel == channel, Broadcast.status.in_(OPEN_STATES))
                .limit(1)
            )
            return found is not None

    def _update(self, broadcast_id: int, **values: Any) -> None:
        with self._sessions() as session:
            row = session.get(Broadcast, broadcast_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.commit()

    async def push(
        self,
        broadcaster: Broadcaster,
        language: str = "zh",
        *,
        fence: StillLeading | None = None,
        retry_delays: Sequence[float] = (),
    ) -> BroadcastResult:
        """The push's broadcast on one channel: the reviews announced this week that no
        earlier broadcast carried. A broadcast the channel left to resume (WeChat busy
        past its client's retries) is tried again after each of `retry_delays`
        seconds (the running bot: a weekly push should not wait a week for it). Raises
        only what the database's absence raises (the push resumes it when it answers)
        and cancellation; any other error is the result's `error`, the row resumed by
        the next push."""
        result = await self._push_once(broadcaster, language, fence)
        for delay in retry_delays:
            if result.status != "waiting" or result.deposed:
                break
            log.info("%s broadcast: trying again in %.0f s", broadcaster.channel, delay)
            await asyncio.sleep(delay)
            result = await self._push_once(broadcaster, language, fence)
        return result

    async def _push_once(
        self, broadcaster: Broadcaster, language: str, fence: StillLeading | None
    ) -> BroadcastResult:
        if self._reviews is None:
            raise RuntimeError("BroadcastService.push needs a review loader")
        load = self._reviews
        channel = broadcaster.channel
        try:
            announced = await asyncio.to_thread(lambda: load(self.announced_ids()))
            return await self.run(broadcaster, announced, language, fence=fence)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("%s broadcast stopped by an error; the next push resumes it", channel)
            reason = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            return BroadcastResult(channel, None, "waiting", error=reason)

    async def run(
        self,
        broadcaster: Broadcaster,
        announced: Sequence[Any],
        language: str = "zh",
        *,
        fence: StillLeading | None = None,
    ) -> BroadcastResult:
        """One broadcast of `announced` reviews (objects with `.id`) not yet carried."""
        channel = broadcaster.channel
        row = await asyncio.to_thread(
            self.open_or_plan,
            channel,
            [review.id for review in announced],
            broadcaster.max_items,
        )
        if row is None:
            return BroadcastResult(channel, None, "nothing")
        reviews = [review for review in announced if review.id in set(row.review_ids)]
        ids = tuple(row.review_ids)
        try:
            draft_id = row.draft_id
            if draft_id is None:
                await _check_fence(fence)
                draft_id = await broadcaster.create_draft(row.push_key, reviews, language)
                await asyncio.to_thread(
                    self._update, row.id, draft_id=draft_id, status="draft_created"
                )
                await broadcaster.preview(draft_id)
            await _check_fence(fence)
            message_id = await broadcaster.send(draft_id, row.push_key)
        except _DeposedError:
            log.info("%s broadcast #%d left to the new leader", channel, row.id)
            return BroadcastResult(
                channel, row.id, "waiting", ids, error="no longer the leader", deposed=True
            )
        except BroadcastError as exc:
            if exc.retry_later:
                await asyncio.to_thread(self._update, row.id, error=exc.reason)
                log.warning(
                    "%s broadcast #%d not sent now (%s); the next push resumes it",
                    channel,
                    row.id,
                    exc.reason,
                )
                return BroadcastResult(channel, row.id, "waiting", ids, error=exc.reason)
            await asyncio.to_thread(self._update, row.id, status="failed", error=exc.reason)
            log.error("%s broadcast #%d failed: %s", channel, row.id, exc.reason)
            return BroadcastResult(channel, row.id, "failed", ids, error=exc.reason)
        await asyncio.to_thread(self._update, row.id, status="sent", message_id=message_id)
        log.info("%s broadcast #%d sent as message %s", channel, row.id, message_id)
        return BroadcastResult(channel, row.id, "sent", ids, message_id)

    def finished(
        self, channel: str, message_id: str, counts: dict[str, int], status: str = ""
    ) -> FinishedBroadcast | None:
        """The channel's report that the job ended (WeChat's MASSSENDJOBFINISH): the
        counts go on the row. The broadcast, the first time it is reported (a repeated
        report, or one of a send this store did not make, gives None: no second
        notice)."""
        with self._sessions() as session:
            row = session.scalars(
                select(Broadcast).where(
                    Broadcast.channel == channel, Broadcast.message_id == message_id
                )
            ).first()
            if row is None:
                return None
            first = row.status != "finished"
            row.status = "finished"
            row.total_count = counts.get("total")
            row.filter_count = counts.get("filter")
            row.sent_count = counts.get("sent")
            row.error_count = counts.get("error")
            if status:
                row.error = None if _succeeded(status) else status[:200]
            row.updated_at = utcnow()
            session.commit()
            if not first:
                return None
            return FinishedBroadcast(
                channel,
                row.id,
                tuple(row.review_ids),
                message_id,
                status,
                _counts(row),
            )

    def recent(self, channel: str | None = None, limit: int = 5) -> list[Broadcast]:
        """The last broadcasts, newest first: of `channel`, or of every channel (None:
        the editors' /stats, which names no channel)."""
        query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
        if channel is not None:
            query = query.where(Broadcast.channel == channel)
        with self._sessions() as session:
            rows = session.scalars(query).all()
            for row in rows:
                session.expunge(row)
            return list(rows)


class _DeposedError(Exception):
    """The push's fence says this process no longer leads."""


async def _check_fence(fence: StillLeading | None) -> None:
    """Before each call that changes something at the channel (the fence reads the
    store: in a thread). A fence that cannot tell (the store away) lets it go on."""
    if fence is None:
        return
    try:
        leading = await asyncio.to_thread(fence)
    except Exception:
        return
    if not leading:
        raise _DeposedError


def _succeeded(status: str) -> bool:
    return status.strip().lower() in ("", "send success", "sendsuccess", "success")


def _counts(row: Broadcast) -> dict[str, int | None]:
    return {
        "total": row.total_count,
        "filter": row.filter_count,
        "sent": row.sent_count,
        "error": row.error_count,
    }
