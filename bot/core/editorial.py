"""The editors' use cases, once, for every door: chat (/queue, /publish, /unqueue,
/unpublish, /show: bot/core/features/editors.py) and the shell (`paperbot queue add`,
`queue show`, `publish`, `unqueue`, `unpublish`).

Each validates the review's state and changes it in one transaction; `publish` also
records a push request for the leader (bot/core/push_requests.py) rather than pushing:
no door runs a push inside a request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.core.push_requests import PushRequestService, PushRequestView, Requester
from bot.core.reviews import ReviewService, ReviewStateError, ReviewView
from bot.core.sources import ParsedReview
from bot.core.subscriptions import Reach, SubscriptionService
from bot.core.tag_suggestions import TagSuggester

#: The trigger push runs started by a publish carry (shown in /stats).
PUBLISH_TRIGGER = "publish"


@dataclass(frozen=True)
class Published:
    review: ReviewView
    #: None when the caller asked to publish without a push request (the CLI pushes).
    request: PushRequestView | None
    subscribers: int


@dataclass(frozen=True)
class Staged:
    """A review staged (or queued) by an editor, with what the editor must be told."""

    review: ReviewView
    #: The tags suggested because the source stated none (now the review's tags), or
    #: None when the source gave its own.
    suggested_tags: tuple[str, ...] | None
    #: Readers the review will reach with its tags, of the active subscribers.
    reach: Reach


class Editorial:
    def __init__(
        self,
        reviews: ReviewService,
        subscriptions: SubscriptionService,
        requests: PushRequestService,
        tags: TagSuggester,
    ) -> None:
        self.reviews = reviews
        self.subscriptions = subscriptions
        self.requests = requests
        self.tags = tags

    def stage(self, parsed: ParsedReview, publish_at: dt.datetime | None) -> Staged:
        """A validated review stored as a draft, for the editor to confirm.

        A source without tags gets suggested ones (stored on the draft, so confirming
        keeps them); the editor is told how many readers the tags reach.
        """
        suggested: tuple[str, ...] | None = None
        if parsed.tags is None:
            suggested = tuple(self.tags.suggest(parsed.title, parsed.summary or "", parsed.body))
            parsed.tags = list(suggested)
        review = self.reviews.stage(parsed, publish_at).review
        return Staged(review, suggested, self.subscriptions.reach(review.tags))

    def confirm(self, review_id: int) -> ReviewView:
        """A draft into the queue (ReviewStateError if it is not a draft)."""
        return self.reviews.set_status(review_id, "queued", expected=("draft",))

    def queue(self, parsed: ParsedReview, publish_at: dt.datetime | None) -> Staged:
        """Stage and confirm at once (the shell: the operator saw the file)."""
        staged = self.stage(parsed, publish_at)
        return Staged(self.confirm(staged.review.id), staged.suggested_tags, staged.reach)

    def reach(self, tags: tuple[str, ...]) -> Reach:
        """How many active readers a review with these tags reaches (see `wants`)."""
        return self.subscriptions.reach(tags)

    def unqueue(self, review_id: int) -> ReviewView:
        """A queued review back to draft (ReviewStateError if it is not queued)."""
        return self.reviews.set_status(review_id, "draft", expected=("queued",))

    def show(self, review_id: int) -> ReviewView:
        """Any review by id, whatever its status, to see it as readers will
        (ReviewStateError if there is none)."""
        review = self.reviews.find(str(review_id), published_only=False)
        if review is None or review.id != review_id:
            raise ReviewStateError(f"no review #{review_id}", review_id=review_id)
        return review

    def unpublish(self, review_id: int) -> ReviewView:
        """A published review back to draft: off every list, search and future push
        (ReviewStateError if it is not published). Deliveries already sent stay sent."""
        return self.reviews.set_status(review_id, "draft", expected=("published",))

    def publish(self, review_id: int, requester: Requester | None) -> Published:
        """Publish a draft or queued review now; with a requester, also ask the leader
        for a push (whose summary goes to the requester)."""
        review = self.reviews.set_status(review_id, "published", expected=("draft", "queued"))
        request = (
            self.requests.record(requester, PUBLISH_TRIGGER, (review.id,))
            if requester is not None
            else None
        )
        subscribers = self.subscriptions.counts_by_status().get("active", 0)
        return Published(review, request, subscribers)
