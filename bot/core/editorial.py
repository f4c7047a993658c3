"""The editors' use cases, once, for every door: chat (/queue, /publish, /unqueue,
bot/core/features/editors.py) and the shell (`paperbot queue add`, `publish`, `unqueue`).

Each validates the review's state and changes it in one transaction; `publish` also
records a push request for the leader (bot/core/push_requests.py) rather than pushing:
no door runs a push inside a request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.core.push_requests import PushRequestService, PushRequestView, Requester
from bot.core.reviews import ReviewService, ReviewView
from bot.core.sources import ParsedReview
from bot.core.subscriptions import SubscriptionService

#: The trigger push runs started by a publish carry (shown in /stats).
PUBLISH_TRIGGER = "publish"


@dataclass(frozen=True)
class Published:
    review: ReviewView
    #: None when the caller asked to publish without a push request (the CLI pushes).
    request: PushRequestView | None
    subscribers: int


class Editorial:
    def __init__(
        self,
        reviews: ReviewService,
        subscriptions: SubscriptionService,
        requests: PushRequestService,
    ) -> None:
        self.reviews = reviews
        self.subscriptions = subscriptions
        self.requests = requests

    def stage(self, parsed: ParsedReview, publish_at: dt.datetime | None) -> ReviewView:
        """A validated review stored as a draft, for the editor to confirm."""
        return self.reviews.stage(parsed, publish_at).review

    def confirm(self, review_id: int) -> ReviewView:
        """A draft into the queue (ReviewStateError if it is not a draft)."""
        return self.reviews.set_status(review_id, "queued", expected=("draft",))

    def queue(self, parsed: ParsedReview, publish_at: dt.datetime | None) -> ReviewView:
        """Stage and confirm at once (the shell: the operator saw the file)."""
        return self.confirm(self.stage(parsed, publish_at).id)

    def unqueue(self, review_id: int) -> ReviewView:
        """A queued review back to draft (ReviewStateError if it is not queued)."""
        return self.reviews.set_status(review_id, "draft", expected=("queued",))

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
