"""The editors' arXiv commands: /candidates, /draft, and the Draft / Dismiss buttons.

Every entry point here is editors-only (ADMIN_IDS, or `paperbot console --admin`).
"""

from __future__ import annotations

from bot.core.arxiv.drafts import DraftOutcome, DraftService
from bot.core.arxiv.views import DISMISS_ACTION, DRAFT_ACTION, candidate_list, skeleton_block
from bot.core.arxiv.watcher import ArxivWatcher, CandidateView
from bot.core.conversation import Caller, Command, Registry, Reply
from bot.core.cron_words import cron_in_words
from bot.core.numbers import parse_count
from bot.core.richtext import paragraph, rich
from bot.core.texts import t

DEFAULT_LIST_SIZE = 10
MAX_LIST_SIZE = 20


class ArxivFeature:
    def __init__(
        self, watcher: ArxivWatcher, drafts: DraftService, poll_cron: str, zone: str = "UTC"
    ) -> None:
        self.watcher = watcher
        self.drafts = drafts
        self.poll_cron = poll_cron
        #: The time zone the cron is read in, named where the schedule is shown.
        self.zone = zone

    def register(self, registry: Registry) -> None:
        registry.add_command(
            Command(
                "candidates", "cmd_candidates", self.candidates, "arg_candidates", admin_only=True
            )
        )
        registry.add_command(
            Command("draft", "cmd_draft", self.draft, "arg_draft", admin_only=True)
        )
        registry.add_action(
            DRAFT_ACTION, self._draft_action, admin_only=True, pending_key="arxiv_fetching"
        )
        registry.add_action(DISMISS_ACTION, self._dismiss_action, admin_only=True)

    # commands

    def candidates(self, caller: Caller, args: str) -> list[Reply]:
        count = parse_count(args)
        size = DEFAULT_LIST_SIZE if count is None else max(1, min(MAX_LIST_SIZE, count))
        shown = self.watcher.pending(size)
        language = caller.language
        if not shown:
            cron = cron_in_words(self.poll_cron, language, self.zone)
            return [_say(t(language, "arxiv_candidates_empty", cron=cron))]
        title = t(language, "arxiv_candidates_heading", total=self.watcher.count_pending())
        return [candidate_list(title, shown, language)]

    async def draft(self, caller: Caller, args: str) -> list[Reply]:
        if not args.strip():
            return [_say(t(caller.language, "arxiv_draft_usage"))]
        return self._draft_replies(caller, await self.drafts.draft(args))

    # buttons: None means stale or forged

    async def _draft_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        candidate = self._candidate(arguments)
        if candidate is None:
            return None
        # The candidate's feed entry is enough for a skeleton when arXiv's API is down.
        outcome = await self.drafts.draft(candidate.arxiv_id, feed_fallback=candidate)
        return self._draft_replies(caller, outcome)

    async def _dismiss_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        candidate = self._candidate(arguments)
        if candidate is None:
            return None
        result = await self.watcher.dismiss(candidate.id)
        if result is None:
            return None
        view, changed = result
        language = caller.language
        if changed:
            return [_say(t(language, "arxiv_dismissed", title=view.title))]
        status = t(language, f"arxiv_status_{view.status}")
        return [_say(t(language, "arxiv_already_decided", title=view.title, status=status))]

    def _candidate(self, arguments: list[str]) -> CandidateView | None:
        candidate_id = parse_count(arguments[0]) if len(arguments) == 1 else None
        return None if candidate_id is None else self.watcher.get(candidate_id)

    # replies

    @staticmethod
    def _draft_replies(caller: Caller, outcome: DraftOutcome) -> list[Reply]:
        language = caller.language
        review = outcome.review
        if outcome.status == "created" and review is not None:
            intro = t(language, "arxiv_draft_created", id=review.id, title=review.title)
            replies = [_say(intro), skeleton_block(outcome.skeleton)]
            if outcome.from_feed:
                replies.insert(0, _say(t(language, "arxiv_draft_from_feed")))
            return replies
        if outcome.status == "exists" and review is not None:
            intro = t(language, "arxiv_draft_exists", id=review.id, title=review.title)
            return [_say(intro), skeleton_block(outcome.skeleton)]
        if outcome.status == "reviewed" and review is not None:
            text = t(
                language,
                "arxiv_draft_reviewed",
                id=review.id,
                title=review.title,
                status=t(language, f"state_{review.status}"),
            )
            return [_say(text)]
        if outcome.status == "refused":
            ref = outcome.reference[:80]
            return [_say(t(language, "arxiv_draft_refused", ref=ref, message=outcome.message))]
        if outcome.status == "unknown":
            return [_say(t(language, "arxiv_draft_unknown", arxiv_id=outcome.arxiv_id))]
        if outcome.status == "unavailable":
            return [_say(t(language, "arxiv_draft_unavailable"))]
        return [_say(t(language, "arxiv_draft_invalid", ref=outcome.reference[:80]))]


def _say(text: str) -> Reply:
    return Reply(rich(paragraph(text)))
