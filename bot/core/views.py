"""How reviews look in any channel: cards, full texts and paged lists as RichText."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from bot.core.conversation import Button, Reply
from bot.core.reviews import ReviewView
from bot.core.richtext import (
    Block,
    RichText,
    Span,
    bold,
    heading,
    link,
    markdown_to_rich,
    numbered,
    paragraph,
    rich,
    text,
)
from bot.core.sources import is_lead_in, shorten
from bot.core.texts import label, t, t_known

if TYPE_CHECKING:
    from bot.core.broadcasts import BroadcastResult, FinishedBroadcast
    from bot.core.push import PushSummary


def web_page_url(public_url: str, review: ReviewView) -> str | None:
    """The review's page on the web archive (PUBLIC_URL), or None when there is none."""
    return f"{public_url.rstrip('/')}/r/{review.slug}" if public_url else None


def _title(review: ReviewView, public_url: str) -> Span:
    """The review's title, bold, a link to its web page when the column has one."""
    return Span(review.title, bold=True, url=web_page_url(public_url, review))


def meta_blocks(review: ReviewView, language: str) -> list[Block]:
    blocks: list[Block] = []
    if review.authors:
        blocks.append(paragraph(label(language, "authors", review.authors)))
    details: list[Span] = []
    if review.paper_date:
        details.append(text(label(language, "date", review.paper_date.display(language))))
    if review.arxiv_url and review.arxiv_id:
        if details:
            details.append(text(" · "))
        details.append(link(f"arXiv:{review.arxiv_id}", review.arxiv_url))
    elif review.paper_url:
        if details:
            details.append(text(" · "))
        details.append(link(t(language, "paper_link"), review.paper_url))
    if details:
        blocks.append(Block("paragraph", tuple(details)))
    return blocks


def _open_label(review: ReviewView, language: str) -> str:
    return t(language, "open_arxiv" if review.arxiv_url else "open_paper")


def card_summary(review: ReviewView) -> str | None:
    """The summary a card shows: none rather than a lead-in left hanging ("…如下：")."""
    return None if is_lead_in(review.summary) else review.summary or None


def tag_line(review: ReviewView) -> Block | None:
    if not review.tags:
        return None
    return paragraph(" ".join(f"#{tag.replace(' ', '_')}" for tag in review.tags))


def review_card(review: ReviewView, language: str, public_url: str = "") -> Reply:
    """Title (linking to the web page with PUBLIC_URL), authors, date, link, summary and
    tags, with a "read in full" button."""
    blocks = [heading(_title(review, public_url)), *meta_blocks(review, language)]
    if summary := card_summary(review):
        blocks.append(paragraph(summary))
    if tags := tag_line(review):
        blocks.append(tags)
    buttons = [Button(t(language, "read_full"), action=f"r:{review.id}")]
    if review.link_url:
        buttons.append(Button(_open_label(review, language), url=review.link_url))
    return Reply(rich(*blocks), (tuple(buttons),))


#: Whole reviews kept as their Reply (as many as `markdown_to_rich` keeps bodies).
FULL_REVIEWS = 256


@functools.lru_cache(maxsize=FULL_REVIEWS)
def review_full(review: ReviewView, language: str, number: int | None = None) -> Reply:
    """The whole review; channels split it into as many messages as they need.

    `number`: the number the reader's list shows it under (what `/review N` takes),
    put before the title so the number seen is the number that works.

    Remembered by value, like `review_list`: its header and the body's concatenation
    were a quarter of answering `/review N`, and nothing but the arguments (all
    immutable) goes into it.
    """
    title = f"{number}. {review.title}" if number is not None else review.title
    header = [heading(bold(title)), *meta_blocks(review, language)]
    if tags := tag_line(review):
        header.append(tags)
    body = markdown_to_rich(review.body)
    buttons: tuple[tuple[Button, ...], ...] = ()
    if review.link_url:
        buttons = ((Button(_open_label(review, language), url=review.link_url),),)
    return Reply(RichText(tuple(header)) + body, buttons)


#: Pages of reviews kept as their Reply (a few KB each).
REVIEW_LISTS = 1_024


@functools.lru_cache(maxsize=REVIEW_LISTS)
def review_list(
    title: str,
    reviews: tuple[ReviewView, ...],
    offset: int,
    total: int,
    language: str,
    page_action: str | None,
    page_size: int,
) -> Reply:
    """A numbered page of reviews with a read button each and previous/next buttons.

    `page_action` is the action prefix that turns into `<prefix>:<offset>` on the
    paging buttons; None means the list is not paged.

    Remembered by value (every argument is immutable, a `ReviewView` frozen): readers
    ask for the same few pages, and building one (its spans, shortened summaries and
    buttons) was a third of answering a remembered /latest or search; hashing the
    arguments is a small part of that. The page depends on nothing but them.
    """
    blocks = [heading(bold(title))]
    for index, review in enumerate(reviews, start=offset + 1):
        spans = [bold(review.title)]
        if review.paper_date:
            spans.append(text(f" · {review.paper_date.display(language)}"))
        blocks.append(numbered(index, *spans))
        if summary := card_summary(review):
            blocks.append(paragraph(shorten(summary, 80)))
    read_row = tuple(
        Button(t(language, "read_n", n=index), action=f"r:{review.id}")
        for index, review in enumerate(reviews, start=offset + 1)
    )
    rows = [read_row] if read_row else []
    if page_action is not None:
        paging = []
        if offset > 0:
            paging.append(
                Button(
                    t(language, "previous"), action=f"{page_action}:{max(0, offset - page_size)}"
                )
            )
        if offset + len(reviews) < total:
            paging.append(
                Button(t(language, "next"), action=f"{page_action}:{offset + len(reviews)}")
            )
        if paging:
            rows.append(tuple(paging))
    return Reply(rich(*blocks), tuple(rows))


def push_digest(
    reviews: list[ReviewView],
    language: str,
    first_number: int = 1,
    total: int | None = None,
    public_url: str = "",
) -> Reply:
    """One message of the weekly push: a card per review, a read button each.

    A push of more reviews than one message should list comes as several digests:
    `first_number` continues the numbering and `total` is the whole push's count (the
    heading says "continued" after the first). With `public_url` (PUBLIC_URL) each
    title links to the review's web page.
    """
    count = len(reviews) if total is None else total
    if first_number == 1:
        title = t(language, "push_heading", count=count)
    else:
        last = first_number + len(reviews) - 1
        title = t(language, "push_heading_more", first=first_number, last=last, count=count)
    blocks: list[Block] = [heading(bold(title))]
    for index, review in enumerate(reviews, start=first_number):
        blocks.append(numbered(index, _title(review, public_url)))
        blocks.extend(meta_blocks(review, language))
        if summary := card_summary(review):
            blocks.append(paragraph(summary))
        if tags := tag_line(review):
            blocks.append(tags)
    buttons = [
        Button(t(language, "read_n", n=index), action=f"r:{review.id}")
        for index, review in enumerate(reviews, start=first_number)
    ]
    rows = tuple(tuple(buttons[i : i + 5]) for i in range(0, len(buttons), 5))
    return Reply(rich(*blocks), rows)


def push_summary_text(summary: PushSummary, language: str) -> str:
    """A push's outcome for the editors, in their language (`PushSummary.describe()` is
    the log's and the shell's English)."""
    trigger = t_known(language, f"trigger_{summary.trigger}", summary.trigger)
    parts = [
        t(
            language,
            "push_summary_line",
            run=summary.run_id if summary.run_id is not None else "-",
            trigger=trigger,
            sent=summary.deliveries_sent,
            messages=summary.messages_sent,
            blocked=summary.blocked,
            failed=summary.failed,
            skipped=summary.skipped,
            retried=summary.retried,
            rate_limited=summary.rate_limited,
            published=len(summary.published),
        )
    ]
    if summary.requeued:
        parts.append(t(language, "push_summary_requeued", count=summary.requeued))
    if summary.held_back:
        parts.append(t(language, "push_summary_held_back", count=summary.held_back))
    if summary.timed_out:
        parts.append(t(language, "push_summary_timed_out", count=summary.left_pending))
    parts.append(t(language, "push_summary_time", seconds=f"{summary.seconds:.1f}"))
    parts.extend(broadcast_text(result, language) for result in summary.broadcasts)
    return t(language, "push_summary_separator").join(parts)


def broadcast_text(result: BroadcastResult, language: str) -> str:
    """A broadcast's outcome in the push's summary for the editors: sent, nothing new,
    failed (a quota, no permission: the reason says what to do) or left to resume."""
    channel = result.channel
    if result.status == "nothing":
        return t(language, "push_summary_broadcast_nothing", channel=channel)
    if result.status == "failed":
        return t(language, "push_summary_broadcast_failed", channel=channel, reason=result.error)
    if result.status == "waiting":
        return t(language, "push_summary_broadcast_waiting", channel=channel, reason=result.error)
    return t(
        language,
        "push_summary_broadcast_sent",
        channel=channel,
        id=result.broadcast_id,
        count=len(result.review_ids),
        message=result.message_id or "-",
    )


def broadcast_finished_text(finished: FinishedBroadcast, language: str) -> str:
    """The channel's final counts of a broadcast (WeChat's MASSSENDJOBFINISH), for the
    editors."""
    counts = {name: "?" if value is None else value for name, value in finished.counts.items()}
    return t(
        language,
        "broadcast_finished",
        channel=finished.channel,
        id=finished.broadcast_id,
        status=finished.status or "-",
        **counts,
    )
