"""Keyword search over published reviews, Chinese and English.

Chinese has no spaces, so a run of Han characters is matched as itself and as its
overlapping two-character pieces (对齐 finds 对齐方法); Latin words match
case-insensitively. Title, tag and arXiv-id hits weigh more than body hits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.core.conversation import clean_input
from bot.core.reviews import ReviewRepository, ReviewView
from bot.core.sources import parse_arxiv_id
from bot.db.models import Review

MAX_QUERY_CHARS = 200
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+\-]*")

#: Where a term was found, and how much that says about relevance.
FIELD_WEIGHTS = {"arxiv_id": 12.0, "title": 6.0, "tags": 5.0, "authors": 4.0, "summary": 2.0}
BODY_WEIGHT = 1.0


@dataclass(frozen=True)
class SearchPage:
    query: str
    items: tuple[ReviewView, ...]
    offset: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


def query_terms(query: str) -> list[str]:
    """Terms of a free-text query: arXiv ids, Latin words, Han runs and their bigrams."""
    query = clean_input(query)[:MAX_QUERY_CHARS]
    terms: list[str] = []
    arxiv_id = parse_arxiv_id(query)
    if arxiv_id:
        terms.append(arxiv_id)
    for word in _LATIN_WORD.findall(query):
        word = word.lower().strip(".-+")
        if len(word) >= 2 and word not in terms:
            terms.append(word)
    for run in _HAN_RUN.findall(query):
        pieces = [run] if len(run) <= 2 else [run, *(run[i : i + 2] for i in range(len(run) - 1))]
        terms.extend(piece for piece in pieces if piece not in terms)
    return terms


def _score(review: Review, terms: list[str]) -> float:
    fields = {
        "arxiv_id": (review.arxiv_id or "").lower(),
        "title": review.title.lower(),
        "tags": " ".join(review.tags or []).lower(),
        "authors": review.authors.lower(),
        "summary": review.summary.lower(),
    }
    body = review.body.lower()
    score = 0.0
    for term in terms:
        weight = len(term) if _HAN_RUN.fullmatch(term) else 2.0
        hit = sum(w for name, w in FIELD_WEIGHTS.items() if term in fields[name])
        hit += BODY_WEIGHT * min(body.count(term), 5)
        score += hit * weight
    return score


class SearchService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def search(self, query: str, limit: int = 5, offset: int = 0) -> SearchPage:
        terms = query_terms(query)
        if not terms:
            return SearchPage(query, (), offset, 0)
        with self.sessions() as session:
            candidates = ReviewRepository(session).matching(terms)
            scored = sorted(
                ((score, row) for row in candidates if (score := _score(row, terms)) > 0),
                key=lambda pair: (-pair[0], -pair[1].id),
            )
            window = scored[offset : offset + limit]
            items = tuple(ReviewView.of(row) for _, row in window)
        return SearchPage(query, items, offset, len(scored))
