"""Drafts: an arXiv paper in, a draft review and a skeleton in the column's format out.

The skeleton is what the editor completes and sends back (`/queue`), so it is
built as a column document and the draft itself is made by importing that very text
with the column's importer: whatever the editor receives is guaranteed to import.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.arxiv.api import PaperRecord
from bot.core.arxiv.http import ArxivUnavailableError
from bot.core.arxiv.records import ArxivRecords
from bot.core.arxiv.watcher import ArxivWatcher, CandidateView
from bot.core.reviews import ReviewService, ReviewView
from bot.core.sources import make_slug, parse_arxiv_id, parse_column

log = logging.getLogger(__name__)

SECTION_HEADINGS = {"latest": "最新论文解读", "classic": "经典论文回顾"}
#: The column's usual sub-headings, each left for the editor to write.
SKELETON_SECTIONS = ("核心创新", "研究方法", "实验结果", "潜在影响")
PLACEHOLDER = "（待补充）"
ABSTRACT_HEADING = "原文摘要（供翻译，发布前删除）"
#: The column lists every author up to this many, else the first author and 等.
MAX_LISTED_AUTHORS = 3


def display_authors(authors: Sequence[str]) -> str:
    """Authors as the column writes them: `A, B, C`, or `A等` for longer lists."""
    if len(authors) <= MAX_LISTED_AUTHORS:
        return ", ".join(authors)
    return f"{authors[0]}等"


def skeleton(record: PaperRecord, section: str = "latest") -> str:
    """A column document with one review of the paper: metadata filled, sections to write.

    The abstract is quoted on one line, so no sentence of it can be mistaken for a
    heading or the `---` that ends a review.
    """
    published = record.published_at
    abstract = " ".join(record.abstract.split())
    lines = [
        f"## {SECTION_HEADINGS[section]}",
        "",
        f"### {record.title}",
        "",
        f"**发表时间**: {published.year}年{published.month}月",
        f"**作者**: {display_authors(record.authors)}",
        f"**链接**: [arXiv:{record.arxiv_id}]({record.url})",
        "",
    ]
    for heading in SKELETON_SECTIONS:
        lines += [f"#### {heading}", "", PLACEHOLDER, ""]
    lines += [f"#### {ABSTRACT_HEADING}", "", f"> {abstract}", "", "---", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class DraftOutcome:
    #: "created" | "exists" (a draft already) | "reviewed" (queued or published) |
    #: "invalid" (not an id) | "refused" (arXiv refused the id) | "unknown" (no such
    #: paper) | "unavailable" (arXiv did not answer)
    status: str
    reference: str
    arxiv_id: str | None = None
    review: ReviewView | None = None
    skeleton: str = ""
    message: str = ""
    #: The API did not answer and the skeleton comes from the candidate's feed entry.
    from_feed: bool = False


def record_of_candidate(candidate: CandidateView) -> PaperRecord:
    """A paper record from a candidate's feed entry, for when the API is down: the feed
    states no submission date, so the announcement's day stands in for it."""
    day = candidate.announced_on or candidate.first_seen_at.date()
    return PaperRecord(
        arxiv_id=candidate.arxiv_id,
        version=candidate.version,
        title=candidate.title,
        authors=candidate.authors,
        abstract=candidate.abstract,
        categories=candidate.categories,
        primary_category=candidate.categories[0] if candidate.categories else None,
        published_at=dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC),
        revised_at=None,
    )


class DraftService:
    """`/draft`: look the paper up (cached), create a draft review, hand out the skeleton."""

    def __init__(
        self, reviews: ReviewService, records: ArxivRecords, watcher: ArxivWatcher
    ) -> None:
        self.reviews = reviews
        self.records = records
        self.watcher = watcher

    async def draft(
        self, reference: str, *, feed_fallback: CandidateView | None = None
    ) -> DraftOutcome:
        """Look the paper up and create its draft. With `feed_fallback` (a Draft button:
        the candidate's stored feed entry), arXiv's API is asked once, and if it does not
        answer the skeleton is made from the feed's title, authors and abstract."""
        reference = reference.strip()
        arxiv_id = parse_arxiv_id(reference)
        if arxiv_id is None:
            return DraftOutcome("invalid", reference)
        existing = self.reviews.find(arxiv_id, published_only=False)
        if existing is not None and existing.status != "draft":
            return DraftOutcome("reviewed", reference, arxiv_id, existing)
        from_feed = False
        try:
            attempts = 1 if feed_fallback is not None else None
            lookup = await self.records.lookup([arxiv_id], attempts=attempts)
        except ArxivUnavailableError as exc:
            log.warning("draft of %s: arXiv unavailable: %s", arxiv_id, exc)
            if feed_fallback is None or feed_fallback.arxiv_id != arxiv_id:
                return DraftOutcome("unavailable", reference, arxiv_id, message=str(exc))
            record: PaperRecord | None = record_of_candidate(feed_fallback)
            from_feed = True
        else:
            if arxiv_id in lookup.refused:
                message = lookup.refused[arxiv_id]
                return DraftOutcome("refused", reference, arxiv_id, message=message)
            record = lookup.found.get(arxiv_id)
        if record is None:
            return DraftOutcome("unknown", reference, arxiv_id)
        text = skeleton(record, existing.section if existing else "latest")
        if existing is not None:
            return DraftOutcome("exists", reference, arxiv_id, existing, text)
        same_title = self.reviews.find(make_slug(record.title, arxiv_id), published_only=False)
        if same_title is not None and same_title.arxiv_id is None:
            # A review of this paper written without its link: do not overwrite it.
            return DraftOutcome("reviewed", reference, arxiv_id, same_title)
        [parsed] = parse_column(text, f"arXiv:{arxiv_id}")
        parsed.status = "draft"
        [outcome] = self.reviews.import_parsed([parsed])
        await self.watcher.record_drafted(record, outcome.review.id)
        log.info("draft review #%d created for arXiv %s", outcome.review.id, arxiv_id)
        return DraftOutcome(
            "created", reference, arxiv_id, outcome.review, text, from_feed=from_feed
        )
