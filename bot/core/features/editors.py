"""The editors' queue: /queue, /queued, /publish, /unqueue and /stats (ADMIN_IDS only).

A review sent with /queue is validated like an import, stored as a draft, and shown to
the editor exactly as readers will see it, with Confirm / Cancel buttons. Confirmed,
it waits in the queue until its publish time (the next push by default).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.core.broadcasts import BroadcastService
from bot.core.conversation import Button, Caller, Command, Registry, Reply
from bot.core.cron_words import cron_in_words
from bot.core.editorial import Editorial, Staged
from bot.core.numbers import parse_count
from bot.core.push import PushService
from bot.core.push_requests import Requester
from bot.core.reviews import ReviewService, ReviewStateError, ReviewView
from bot.core.richtext import Block, bold, heading, numbered, paragraph, rich, text
from bot.core.sources import MAX_DOCUMENT_BYTES as MAX_DOCUMENT_BYTES
from bot.core.sources import (
    MAX_PUBLISH_AHEAD,
    ParsedReview,
    PublishTimeInPastError,
    PublishTimeTooFarError,
    ReviewFormatError,
    check_publish_time,
    other_paper_link,
    parse_text,
)
from bot.core.subscriptions import SubscriptionService
from bot.core.texts import t, t_known
from bot.core.views import review_full
from bot.db.models import utcnow

log = logging.getLogger(__name__)

#: How many broadcasts /stats lists (like the push runs it lists).
RECENT_BROADCASTS = 5


def next_push_time(cron: str, zone: ZoneInfo, now: dt.datetime | None = None) -> dt.datetime:
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    moment = trigger.get_next_fire_time(None, (now or utcnow()).astimezone(zone))
    assert isinstance(moment, dt.datetime)
    return moment.astimezone(dt.UTC)


def parse_publish_time(value: str, zone: ZoneInfo) -> dt.datetime:
    """'2026-12-07', '2026-12-07 09:00' or ISO 8601; times without a zone are in `zone`."""
    value = value.strip().replace("T", " ")
    if len(value) == 10:
        value += " 09:00"
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01 east of UTC
        raise ValueError(f"{value!r} is out of range") from None


def publish_time(
    when: str, zone: ZoneInfo, *, allow_past: bool = False, now: dt.datetime | None = None
) -> dt.datetime | None:
    """An editor's "not before" time, or None when none is given (ValueError if bad).

    None means "with the next push", whichever runs first: the scheduled one or a
    manual `paperbot push` (see `PushService.publish_due`). More than MAX_PUBLISH_AHEAD
    ahead is `PublishTimeTooFarError`; a time already past is `PublishTimeInPastError`
    unless `allow_past` (the editor confirmed it), both ValueErrors.
    """
    if not when.strip():
        return None
    moment = check_publish_time(parse_publish_time(when, zone))
    if not allow_past and moment < (now or utcnow()):
        local = moment.astimezone(zone)
        raise PublishTimeInPastError(f"{local:%Y-%m-%d %H:%M %Z} has already passed")
    return moment


class EditorsFeature:
    def __init__(
        self,
        reviews: ReviewService,
        subscriptions: SubscriptionService,
        push: PushService,
        editorial: Editorial,
        push_cron: str,
        zone: ZoneInfo,
        broadcasts: BroadcastService | None = None,
    ) -> None:
        self.reviews = reviews
        #: Broadcast pushes (a channel's one message to all followers) for /stats.
        self.broadcasts = broadcasts
        self.subscriptions = subscriptions
        self.push = push
        self.editorial = editorial
        self.push_cron = push_cron
        self.zone = zone

    def register(self, registry: Registry) -> None:
        for name, handler, argument in (
            ("queue", self.queue, "arg_queue"),
            ("queued", self.queued, None),
            ("publish", self.publish, "arg_id"),
            ("unqueue", self.unqueue, "arg_id"),
            ("unpublish", self.unpublish, "arg_id"),
            ("show", self.show, "arg_id"),
            ("stats", self.stats, None),
        ):
            registry.add_command(Command(name, f"cmd_{name}", handler, argument, admin_only=True))
        registry.add_action("q", self._confirm_action, admin_only=True)

    # /queue

    async def queue(self, caller: Caller, args: str) -> list[Reply]:
        """`/queue [when]` with a Markdown document attached, or the review pasted below."""
        language = caller.language
        first_line, _, pasted = args.partition("\n")
        when_text = first_line.strip()
        source = pasted
        if when_text.startswith(("---", "#")):
            when_text, source = "", args
        if caller.attachment is not None:
            if caller.attachment.byte_size > MAX_DOCUMENT_BYTES:
                return [_say(language, "queue_too_big")]
            try:
                source = caller.attachment.data.decode("utf-8")
            except UnicodeDecodeError:
                return [_say(language, "queue_not_utf8", name=caller.attachment.filename)]
            when_text = args.strip()
        if not source.strip():
            return [_say(language, "queue_usage")]
        try:
            publish_at = publish_time(when_text, self.zone)
        except PublishTimeTooFarError:
            days = MAX_PUBLISH_AHEAD.days
            return [_say(language, "queue_time_too_far", value=when_text[:40], days=days)]
        except PublishTimeInPastError:
            return [_say(language, "queue_time_past", value=when_text[:40])]
        except ValueError:
            return [_say(language, "queue_bad_time", value=when_text[:40])]
        name = caller.attachment.filename if caller.attachment else "message"
        try:
            # Off the event loop: a large document takes a while to parse, and the
            # bot must keep answering everyone else meanwhile.
            parsed = await asyncio.to_thread(parse_text, source, name)
        except ReviewFormatError as exc:
            return [_say(language, "queue_invalid", error=str(exc))]
        if len(parsed) != 1:
            return [_say(language, "queue_one_only", count=len(parsed))]
        review = parsed[0]
        if review.publish_at is not None and not when_text:
            if review.publish_at < utcnow():  # as for a typed time: a past one is refused
                return [_say(language, "queue_time_past", value=self._local(review.publish_at))]
            publish_at = review.publish_at
        try:
            # Also off the loop: indexing the body for search and rendering the preview
            # take a while for a long body of dense markup.
            return await asyncio.to_thread(self._stage_and_preview, review, publish_at, language)
        except ReviewStateError as exc:
            return [_refused(language, exc)]

    def _stage_and_preview(
        self, review: ParsedReview, publish_at: dt.datetime | None, language: str
    ) -> list[Reply]:
        preview = self._preview(self.editorial.stage(review, publish_at), language)
        other = other_paper_link(review.paper_url) if review.paper_url else None
        if other is not None:
            url, site = other
            preview.insert(0, _say(language, "queue_warning_not_arxiv", url=url, site=site))
        return preview

    def _preview(self, staged: Staged, language: str) -> list[Reply]:
        review = staged.review
        when = self._publish_when(review.publish_at, language)
        notes = [paragraph(t(language, "queue_preview", id=review.id, when=when))]
        notes.extend(paragraph(line) for line in audience_lines(staged, language))
        note = Reply(rich(*notes))
        confirm = Reply(
            rich(paragraph(t(language, "queue_confirm_question"))),
            (
                (
                    Button(t(language, "queue_confirm"), action=f"q:ok:{review.id}"),
                    Button(t(language, "queue_cancel"), action=f"q:no:{review.id}"),
                ),
            ),
        )
        return [note, review_full(review, language), confirm]

    async def _confirm_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        review_id = parse_count(arguments[1]) if len(arguments) == 2 else None
        if review_id is None or arguments[0] not in ("ok", "no"):
            return None
        language = caller.language
        if arguments[0] == "no":
            removed = self.reviews.discard_draft(review_id)
            return [_say(language, "queue_cancelled" if removed else "queue_nothing_to_cancel")]
        try:
            review = self.editorial.confirm(review_id)
        except ReviewStateError as exc:
            return [_refused(language, exc)]
        when = self._publish_when(review.publish_at, language)
        return [_say(language, "queue_done", id=review.id, title=review.title, when=when)]

    # /queued, /unqueue, /publish

    def queued(self, caller: Caller, args: str) -> list[Reply]:
        language = caller.language
        waiting = self.reviews.in_queue()
        if not waiting:
            return [_say(language, "queued_empty")]
        blocks = [heading(bold(t(language, "queued_heading", count=len(waiting))))]
        for review in waiting:
            status = t(language, f"review_status_{review.status}")
            when = self._publish_when(review.publish_at, language)
            blocks.append(numbered(review.id, bold(review.title), text(f" · {status} · {when}")))
        return [Reply(rich(*blocks))]

    def unqueue(self, caller: Caller, args: str) -> list[Reply]:
        return self._status_change(caller, args, "/unqueue", self.editorial.unqueue, "unqueued")

    def unpublish(self, caller: Caller, args: str) -> list[Reply]:
        return self._status_change(
            caller, args, "/unpublish", self.editorial.unpublish, "unpublished"
        )

    def _status_change(
        self,
        caller: Caller,
        args: str,
        command: str,
        change: Callable[[int], ReviewView],
        done_key: str,
    ) -> list[Reply]:
        """`/unqueue ID` and `/unpublish ID`: one review id, one status change, its
        refusal in the editor's language."""
        language = caller.language
        review_id = parse_count(args)
        if review_id is None:
            return [_say(language, "id_usage", command=command)]
        try:
            review = change(review_id)
        except ReviewStateError as exc:
            return [_refused(language, exc)]
        return [_say(language, done_key, id=review.id, title=review.title)]

    def show(self, caller: Caller, args: str) -> list[Reply]:
        """Any review (a draft, a queued one) exactly as readers will see it."""
        language = caller.language
        review_id = parse_count(args)
        if review_id is None:
            return [_say(language, "id_usage", command="/show")]
        try:
            review = self.editorial.show(review_id)
        except ReviewStateError as exc:
            return [_refused(language, exc)]
        status = t(language, f"state_{review.status}")
        when = self._local(review.publish_at or review.published_at)
        note = _say(language, "show_note", id=review.id, status=status, when=when)
        return [note, review_full(review, language)]

    def publish(self, caller: Caller, args: str) -> list[Reply]:
        language = caller.language
        review_id = parse_count(args)
        if review_id is None:
            return [_say(language, "id_usage", command="/publish")]
        # The summary goes back to this chat once the leader has run the push.
        requester = Requester(caller.channel, str(caller.chat_id), language)
        try:
            published = self.editorial.publish(review_id, requester)
        except ReviewStateError as exc:
            return [_refused(language, exc)]
        review = published.review
        return [
            _say(
                language,
                "published_queued_for_push",
                id=review.id,
                title=review.title,
                subscribers=published.subscribers,
            )
        ]

    # /stats

    def stats(self, caller: Caller, args: str) -> list[Reply]:
        language = caller.language
        counts = self.subscriptions.counts_by_status()
        blocks = [
            heading(bold(t(language, "stats_heading"))),
            paragraph(
                t(
                    language,
                    "stats_subscribers",
                    active=counts.get("active", 0),
                    unsubscribed=counts.get("unsubscribed", 0),
                    blocked=counts.get("blocked", 0),
                )
            ),
            paragraph(
                t(
                    language,
                    "stats_next_push",
                    when=self._local(self._next_push()),
                    schedule=cron_in_words(self.push_cron, language),
                )
            ),
        ]
        runs = self.push.recent_runs(5)
        if runs:
            blocks.append(paragraph(t(language, "stats_recent_pushes")))
            for run in runs:
                blocks.append(
                    paragraph(
                        t(
                            language,
                            "stats_push_line",
                            id=run.id,
                            when=self._local(run.started_at),
                            trigger=t_known(language, f"trigger_{run.trigger}", run.trigger),
                            sent=run.sent,
                            failed=run.failed,
                            blocked=run.blocked,
                            status=t_known(language, f"run_{run.status}", run.status),
                        )
                    )
                )
        else:
            blocks.append(paragraph(t(language, "stats_no_pushes")))
        blocks.extend(self._broadcast_lines(language))
        return [Reply(rich(*blocks))]

    def _broadcast_lines(self, language: str) -> list[Block]:
        """The last broadcasts (a channel's one message to every follower, e.g. WeChat's
        mass send): their state, reviews and, once the channel reported the job's end,
        its counts. Push runs count deliveries to subscribers and say nothing of them.
        Nothing where no channel broadcasts, so a Telegram-only /stats is unchanged."""
        rows = self.broadcasts.recent(None, RECENT_BROADCASTS) if self.broadcasts else []
        if not rows:
            return []
        lines: list[Block] = [paragraph(t(language, "stats_recent_broadcasts"))]
        for row in rows:
            line = t(
                language,
                "stats_broadcast_line",
                id=row.id,
                channel=row.channel,
                when=self._local(row.created_at),
                status=t_known(language, f"broadcast_status_{row.status}", row.status),
                count=len(row.review_ids or []),
            )
            counts = (row.total_count, row.filter_count, row.sent_count, row.error_count)
            if any(value is not None for value in counts):
                total, filtered, sent, error = ("?" if v is None else v for v in counts)
                line += t(
                    language,
                    "stats_broadcast_counts",
                    total=total,
                    filter=filtered,
                    sent=sent,
                    error=error,
                )
            if row.error:
                line += t(language, "stats_broadcast_error", reason=row.error[:120])
            lines.append(paragraph(line))
        return lines

    def _next_push(self) -> dt.datetime:
        return next_push_time(self.push_cron, self.zone)

    def _publish_when(self, moment: dt.datetime | None, language: str) -> str:
        """A queued review's time as the editor reads it: no time is the next push."""
        if moment is None:
            return t(language, "queue_next_push", when=self._local(self._next_push()))
        return t(language, "queue_not_before", when=self._local(moment))

    def _local(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return "—"
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")


def state_error_text(language: str, exc: ReviewStateError) -> str:
    """A ReviewStateError in the editor's language (its str() is the shell's English)."""
    if exc.review_id is None:
        return t(language, "queue_refused", error=str(exc))
    if exc.status is None:
        return t(language, "state_no_review", id=exc.review_id)
    if not exc.expected:  # staging a review that is published already
        return t(language, "state_already_published", id=exc.review_id, title=exc.title or "")
    status = t(language, f"state_{exc.status}")
    separator = " or " if language == "en" else "或"
    expected = separator.join(t(language, f"state_{wanted}") for wanted in exc.expected)
    return t(language, "state_wrong", id=exc.review_id, status=status, expected=expected)


def _refused(language: str, exc: ReviewStateError) -> Reply:
    return Reply(rich(paragraph(state_error_text(language, exc))))


def audience_lines(staged: Staged, language: str) -> list[str]:
    """What the editor must know about who gets the review: the tags (suggested ones
    said so) and how many readers they reach. The CLI prints the same lines."""
    tags = "、".join(staged.review.tags) if language == "zh" else ", ".join(staged.review.tags)
    if staged.suggested_tags is not None:
        key = "queue_tags_suggested" if staged.suggested_tags else "queue_tags_none"
    else:
        key = "queue_tags_given" if staged.review.tags else "queue_tags_none"
    reach = staged.reach
    lines = [t(language, key, tags=tags)]
    if reach.missed:
        lines.append(
            t(
                language,
                "queue_reach_some",
                readers=reach.readers,
                active=reach.active,
                missed=reach.missed,
            )
        )
    else:
        lines.append(t(language, "queue_reach_all", readers=reach.readers))
    return lines


def _say(language: str, key: str, **values: object) -> Reply:
    return Reply(rich(paragraph(t(language, key, **values))))
