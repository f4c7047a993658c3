"""Tags suggested for a review that states none (a column document without `**标签**:`).

Readers who chose topics in /topics are matched by tag, so an untagged review is worth
a suggestion the editor sees in the preview (and keeps by confirming). The vocabulary
is what the column already uses, so suggestions land on topics readers can choose:

1. the tags of published reviews, each with the alias group it belongs to
   (`RLHF` also counts where the text says 人类反馈强化学习);
2. the search alias groups (bot/core/search/aliases.py) not tied to a used tag,
   named by their first term.

A candidate scores its mentions (any term of its group) in the title (×3), summary and
body. A tag the column already uses needs one mention (it is a topic readers chose), a
bare alias group two or one in the title; the best few are suggested.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.search.aliases import alias_key, list_groups
from bot.db.models import Review

#: Suggestions offered at most (a reader's topics are a handful of tags).
MAX_SUGGESTED_TAGS = 4
TITLE_WEIGHT = 3
MIN_SCORE_USED_TAG = 1
MIN_SCORE_ALIAS_GROUP = 2


@dataclass(frozen=True)
class _Candidate:
    tag: str
    terms: tuple[str, ...]
    used: int  # published reviews already carrying the tag


def _pattern(term: str) -> re.Pattern[str]:
    """A term as a case-insensitive pattern; Latin words only match whole (RL ≠ URL)."""
    escaped = re.escape(term)
    before = r"(?<![A-Za-z0-9])" if term[:1].isascii() and term[:1].isalnum() else ""
    after = r"(?![A-Za-z0-9])" if term[-1:].isascii() and term[-1:].isalnum() else ""
    return re.compile(before + escaped + after, re.IGNORECASE)


def _mentions(terms: Sequence[str], text: str) -> int:
    return sum(len(_pattern(term).findall(text)) for term in terms if term.strip())


class TagSuggester:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def suggest(self, title: str, summary: str, body: str) -> list[str]:
        """Up to MAX_SUGGESTED_TAGS tags for this text, the most mentioned first."""
        scored: list[tuple[int, int, str]] = []
        for candidate in self._candidates():
            score = TITLE_WEIGHT * _mentions(candidate.terms, title)
            score += _mentions(candidate.terms, f"{summary}\n{body}")
            if score >= (MIN_SCORE_USED_TAG if candidate.used else MIN_SCORE_ALIAS_GROUP):
                scored.append((score, candidate.used, candidate.tag))
        scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
        return [tag for _, _, tag in scored[:MAX_SUGGESTED_TAGS]]

    def _candidates(self) -> list[_Candidate]:
        with self.sessions() as session:
            groups = list_groups(session)
            used: dict[str, int] = {}
            for tags in session.scalars(select(Review.tags).where(Review.status == "published")):
                for tag in tags or ():
                    used[tag] = used.get(tag, 0) + 1
        group_of = {alias_key(term): group for group in groups for term in group}
        candidates: list[_Candidate] = []
        covered: set[int] = set()
        for tag, count in sorted(used.items(), key=lambda item: (-item[1], item[0])):
            group = group_of.get(alias_key(tag))
            if group is not None:
                if id(group) in covered:  # a less used synonym of a tag already offered
                    continue
                covered.add(id(group))
            candidates.append(_Candidate(tag, tuple(group or (tag,)), count))
        candidates.extend(
            _Candidate(group[0], tuple(group), 0) for group in groups if id(group) not in covered
        )
        return candidates
