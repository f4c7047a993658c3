"""How candidates look in any channel: the ranked list with Draft / Dismiss / arXiv buttons."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.arxiv.drafts import display_authors
from bot.core.arxiv.watcher import CandidateView, CategoryOutcome
from bot.core.conversation import Button, Reply
from bot.core.richtext import Block, bold, code, heading, numbered, paragraph, rich
from bot.core.texts import label, t

#: Button data prefixes (the core's action table); the candidate's id follows.
DRAFT_ACTION = "axd"
DISMISS_ACTION = "axx"


def candidate_blocks(candidate: CandidateView, number: int, language: str) -> list[Block]:
    meta = t(
        language,
        "arxiv_candidate_meta",
        arxiv_id=candidate.arxiv_id,
        categories=", ".join(candidate.categories[:3]) or "-",
        score=f"{candidate.score:.2f}",
    )
    blocks = [numbered(number, bold(candidate.title)), paragraph(meta)]
    if candidate.authors:
        blocks.append(paragraph(label(language, "authors", display_authors(candidate.authors))))
    reason = candidate.reason_in(language)
    blocks.append(paragraph(t(language, "arxiv_candidate_reason", reason=reason)))
    return blocks


def candidate_buttons(candidate: CandidateView, number: int, language: str) -> tuple[Button, ...]:
    return (
        Button(
            t(language, "arxiv_button_draft", n=number), action=f"{DRAFT_ACTION}:{candidate.id}"
        ),
        Button(
            t(language, "arxiv_button_dismiss", n=number), action=f"{DISMISS_ACTION}:{candidate.id}"
        ),
        Button(t(language, "arxiv_button_open", n=number), url=candidate.url),
    )


def candidate_list(title: str, candidates: Sequence[CandidateView], language: str) -> Reply:
    """A numbered list, best first; one row of buttons per candidate."""
    blocks = [heading(bold(title))]
    rows = []
    for number, candidate in enumerate(candidates, start=1):
        blocks.extend(candidate_blocks(candidate, number, language))
        rows.append(candidate_buttons(candidate, number, language))
    return Reply(rich(*blocks), tuple(rows))


def poll_alert(
    candidates: Sequence[CandidateView],
    added: int,
    failures: Sequence[CategoryOutcome],
    language: str = "zh",
) -> Reply:
    """What editors get after a poll: the best new candidates and any category that failed."""
    if candidates:
        title = t(language, "arxiv_alert_heading", added=added, count=len(candidates))
    else:
        title = t(language, "arxiv_alert_trouble")
    reply = candidate_list(title, candidates, language)
    problems = [
        paragraph(
            t(language, "arxiv_alert_problem", category=failure.category, problem=failure.problem)
        )
        for failure in failures
    ]
    return Reply(reply.body + rich(*problems), reply.buttons)


def skeleton_block(text: str) -> Reply:
    """The Markdown skeleton verbatim, in a code block the editor can copy whole."""
    return Reply(rich(Block("code", (code(text),))))
