"""Which candidates the column should review next, each with a reason an editor can read.

A candidate's score adds up three kinds of evidence:

- keywords (ARXIV_KEYWORDS) in its title (1 point each) or abstract (half a point),
  at most `KEYWORD_CAP` in all, so a keyword-stuffed abstract cannot win on its own;
- TF-IDF similarity (unigrams and bigrams over title and abstract, sublinear tf,
  smoothed idf, cosine; as arxiv-sanity does) to the column's published reviews;
- editor feedback: similarity to drafted candidates adds, to dismissed ones subtracts.

Similarity counts through the single nearest neighbour of each kind rather than a
centroid, so the reason can name it ("like review “LIMA”") and one dismissal moves
the papers that resemble it without dragging the whole topic down.

Pure Python on purpose: a day's feeds hold at most a few thousand entries, which this
ranks in a fraction of a second (see bench/arxiv_rank.py), and no numeric stack is
needed to deploy the bot.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import filterfalse, pairwise
from typing import Any, Protocol

from bot.core.sources import shorten
from bot.core.texts import t

KEYWORD_TITLE_POINTS = 1.0
KEYWORD_ABSTRACT_POINTS = 0.5
KEYWORD_CAP = 3.0
REVIEW_WEIGHT = 10.0
DRAFTED_WEIGHT = 10.0
DISMISSED_WEIGHT = 10.0
#: A paper the column has already reviewed (a new version, say) is no news.
REVIEWED_PENALTY = 10.0
#: Terms in more than this share of the documents are ignored (sklearn's max_df).
MAX_DF = 0.5
#: Below this cosine a neighbour is noise: it earns no points, so the reason (which
#: names every signal) always accounts for the whole score.
MIN_SIMILARITY = 0.05

_WORD = re.compile(r"[a-z0-9]+")
# A short English stop list: function words and the boilerplate of abstracts.
_STOP_LIST = """a about above after again against all also although am among an and any approach are
    as at be been being between both but by can could did do does doing done due during each
    either et etc few for from further had has have having here how however i if in into is
    it its itself just may might more most much must no nor not of off on once only or other
    our ours out over own paper per propose proposed same several should show shows since so
    some such than that the their them then there these they this those through thus to too
    under until up upon us use used using via was we were what when where whether which while
    who whom why will with within without would yet"""
STOPWORDS = frozenset(_STOP_LIST.split())
_STEMS: dict[str, str] = {}

#: A term of the TF-IDF vocabulary: a word, or two adjacent words.
Term = str | tuple[str, str]


def _stem(word: str) -> str:
    """Plural -s off (llms, models, laws); -ss, -us, -is words keep theirs."""
    return word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] not in "siu" else word


#: Stems that are no content: stop words and bare numbers (filled as numbers appear).
_BASE_NOISE = frozenset(STOPWORDS | {_stem(word) for word in STOPWORDS})
_NOISE = set(_BASE_NOISE)
#: The memo is dropped when it grows past this, so a bot running for months stays small.
STEM_MEMO_LIMIT = 200_000


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed words; Chinese characters fall away, English terms stay."""
    words = _WORD.findall(text.lower())
    if len(_STEMS) > STEM_MEMO_LIMIT:
        _STEMS.clear()
        _NOISE.intersection_update(_BASE_NOISE)
    # Stems are memoized, and looked up with map() so the hot loop stays in C.
    for word in set(words).difference(_STEMS):
        stem = _STEMS[word] = _stem(word)
        if stem.isdigit():
            _NOISE.add(stem)
    return list(map(_STEMS.__getitem__, words))


def phrase_text(words: list[str]) -> str:
    """Tokens joined by single spaces and padded, for whole-phrase keyword matching."""
    return f" {' '.join(words)} "


def features(words: list[str]) -> Counter[Term]:
    """Unigrams and bigrams of the content words."""
    content = list(filterfalse(_NOISE.__contains__, words))
    counts: Counter[Term] = Counter(content)
    counts.update(pairwise(content))
    return counts


@dataclass(frozen=True)
class _Prepared:
    """A candidate cut into what scoring needs, tokenized once."""

    title: str
    abstract: str
    counts: Counter[Term]

    @classmethod
    def of(cls, title: str, abstract: str) -> _Prepared:
        title_words, abstract_words = tokens(title), tokens(abstract)
        return cls(
            phrase_text(title_words),
            phrase_text(abstract_words),
            features(title_words + abstract_words),
        )


class Rankable(Protocol):
    @property
    def arxiv_id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def abstract(self) -> str: ...


@dataclass(frozen=True)
class ProfileDoc:
    """Something the ranking compares candidates with: a review, a drafted or dismissed paper."""

    kind: str  # "review" | "drafted" | "dismissed"
    ref: str  # arXiv id or review slug
    title: str
    text: str


@dataclass(frozen=True)
class Signal:
    """One reason for a score: what matched, how strongly, and what it was worth."""

    kind: str  # "keyword" | "review" | "drafted" | "dismissed" | "reviewed"
    label: str
    points: float
    similarity: float = 0.0
    ref: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "points": round(self.points, 3),
            "similarity": round(self.similarity, 3),
            "ref": self.ref,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signal:
        return cls(
            kind=str(data.get("kind", "")),
            label=str(data.get("label", "")),
            points=float(data.get("points", 0.0)),
            similarity=float(data.get("similarity", 0.0)),
            ref=str(data.get("ref", "")),
        )


@dataclass(frozen=True)
class Ranking:
    score: float
    signals: tuple[Signal, ...]

    def reason(self, language: str = "en") -> str:
        return describe(self.signals, language)


def describe(signals: Iterable[Signal], language: str = "en") -> str:
    """The human-readable reason: every signal, strongest first."""
    parts = []
    for signal in sorted(signals, key=lambda s: abs(s.points), reverse=True):
        values = {
            "terms": signal.label,
            "title": shorten(signal.label, 48),
            "similarity": f"{signal.similarity:.2f}",
            "points": f"{abs(signal.points):.1f}",
        }
        parts.append(t(language, f"arxiv_reason_{signal.kind}", **values))
    if not parts:
        return t(language, "arxiv_reason_none")
    return t(language, "arxiv_reason_separator").join(parts)


class Ranker:
    """Scores candidates against keywords, the column's reviews and the editors' feedback."""

    def __init__(
        self,
        keywords: Sequence[str],
        profile: Sequence[ProfileDoc] = (),
        reviewed_ids: Iterable[str] = (),
    ) -> None:
        phrases = [(keyword, phrase_text(tokens(keyword))) for keyword in keywords]
        self.keywords = [(keyword, phrase) for keyword, phrase in phrases if phrase.strip()]
        self.profile = list(profile)
        self.reviewed_ids = frozenset(reviewed_ids)
        self._by_kind = {
            kind: [index for index, doc in enumerate(self.profile) if doc.kind == kind]
            for kind in ("review", "drafted", "dismissed")
        }

    def rank(self, candidates: Sequence[Rankable]) -> list[Ranking]:
        """One `Ranking` per candidate, in the candidates' order."""
        prepared = [_Prepared.of(c.title, c.abstract) for c in candidates]
        profile_counts = [features(tokens(doc.text)) for doc in self.profile]
        idf = _idf([*(p.counts for p in prepared), *profile_counts])
        idf_squared = {term: weight * weight for term, weight in idf.items()}
        # An inverted index of the profile: each candidate term looks up who shares it.
        postings: dict[Term, list[tuple[int, float]]] = {}
        for index, counts in enumerate(profile_counts):
            for term, weight in _weights(counts, idf).items():
                postings.setdefault(term, []).append((index, weight))
        return [
            self._rank_one(candidate.arxiv_id, doc, idf, idf_squared, postings)
            for candidate, doc in zip(candidates, prepared, strict=True)
        ]

    def _rank_one(
        self,
        arxiv_id: str,
        doc: _Prepared,
        idf: dict[Term, float],
        idf_squared: dict[Term, float],
        postings: dict[Term, list[tuple[int, float]]],
    ) -> Ranking:
        signals = []
        keyword = self._keywords(doc)
        if keyword is not None:
            signals.append(keyword)
        similarity = _similarities(doc.counts, idf, idf_squared, postings, len(self.profile))
        for kind, weight in (
            ("review", REVIEW_WEIGHT),
            ("drafted", DRAFTED_WEIGHT),
            ("dismissed", -DISMISSED_WEIGHT),
        ):
            best = max(self._by_kind[kind], key=similarity.__getitem__, default=None)
            if best is not None and similarity[best] >= MIN_SIMILARITY:
                neighbour = self.profile[best]
                points = weight * similarity[best]
                signals.append(
                    Signal(kind, neighbour.title, points, similarity[best], neighbour.ref)
                )
        if arxiv_id in self.reviewed_ids:
            signals.append(Signal("reviewed", "", -REVIEWED_PENALTY, ref=arxiv_id))
        return Ranking(round(sum(s.points for s in signals), 4), tuple(signals))

    def _keywords(self, doc: _Prepared) -> Signal | None:
        """Keyword points; a keyword inside a longer matched one ("language model" in
        "large language model") is not counted twice."""
        hits: list[tuple[str, str, float]] = []
        for keyword, phrase in self.keywords:
            if phrase in doc.title:
                hits.append((keyword, phrase, KEYWORD_TITLE_POINTS))
            elif phrase in doc.abstract:
                hits.append((keyword, phrase, KEYWORD_ABSTRACT_POINTS))
        kept = [
            (keyword, points)
            for keyword, phrase, points in hits
            if not any(phrase != other and phrase in other for _, other, _ in hits)
        ]
        if not kept:
            return None
        points = min(sum(points for _, points in kept), KEYWORD_CAP)
        return Signal("keyword", ", ".join(keyword for keyword, _ in kept), points)


def _idf(documents: Sequence[Counter[Term]]) -> dict[Term, float]:
    """Smoothed idf; terms in more than MAX_DF of the documents weigh nothing (as
    arxiv-sanity's max_df): they say nothing about a paper and would only slow the
    comparison down."""
    frequency: Counter[Term] = Counter()
    for document in documents:
        frequency.update(document.keys())
    total = len(documents)
    common = MAX_DF * total
    return {
        term: 0.0 if df > common else math.log((1 + total) / (1 + df)) + 1.0
        for term, df in frequency.items()
    }


def _weights(counts: Counter[Term], idf: dict[Term, float]) -> dict[Term, float]:
    """Sublinear tf times idf, L2-normalised; weightless terms left out."""
    vector = {term: (1.0 + math.log(tf)) * idf[term] for term, tf in counts.items() if idf[term]}
    norm = math.sqrt(sum(weight * weight for weight in vector.values())) or 1.0
    return {term: weight / norm for term, weight in vector.items()}


def _similarities(
    counts: Counter[Term],
    idf: dict[Term, float],
    idf_squared: dict[Term, float],
    postings: dict[Term, list[tuple[int, float]]],
    size: int,
) -> list[float]:
    """Cosine similarity of one candidate with every profile document.

    Written for speed: the norm and the shared terms are found with C-level
    map/set operations, and only terms that also occur in the profile are looped over.
    """
    scores = [0.0] * size
    if not size:
        return scores
    squares = sum(map(idf_squared.__getitem__, counts))
    repeated: dict[Term, float] = {}
    for term, tf in counts.most_common():
        if tf == 1:
            break
        repeated[term] = 1.0 + math.log(tf)
        squares += idf_squared[term] * (repeated[term] ** 2 - 1.0)
    for term in counts.keys() & postings.keys():
        weight = idf[term] * repeated.get(term, 1.0)
        for index, other in postings[term]:
            scores[index] += weight * other
    norm = math.sqrt(squares) or 1.0
    return [score / norm for score in scores]
