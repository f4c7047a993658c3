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
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, compress, filterfalse, pairwise
from typing import Any, NamedTuple, Protocol

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


class _StemMemo(dict[str, str]):
    """Word to stem, computed on first sight: a text is then stemmed by one C-level
    `map(_STEMS.__getitem__, words)`, with no Python code run per word."""

    def __missing__(self, word: str) -> str:
        stem = self[word] = _stem(word)
        if stem.isdigit():
            _NOISE.add(stem)
        return stem


_STEMS = _StemMemo()


def _ascii_word_bytes() -> bytes:
    """A `bytes.translate` table: A-Z lower-cased, a-z and 0-9 kept, every other byte a space."""
    table = bytearray(b" " * 256)
    for lower, upper in zip(string.ascii_lowercase, string.ascii_uppercase, strict=True):
        table[ord(lower)] = table[ord(upper)] = ord(lower)
    for digit in string.digits:
        table[ord(digit)] = ord(digit)
    return bytes(table)


_ASCII_WORD_BYTES = _ascii_word_bytes()


def words(text: str) -> list[str]:
    """The lower-cased runs of a-z and 0-9 in `text`, as `_WORD.findall(text.lower())`.

    ASCII text (nearly every title and abstract) takes a byte translation and a split,
    twice as fast; other text takes the regular expression, since lower-casing can turn
    a non-ASCII letter into an ASCII one (the Kelvin sign into k).
    """
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii").split()
    return _WORD.findall(text.lower())


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed words; Chinese characters fall away, English terms stay."""
    if len(_STEMS) > STEM_MEMO_LIMIT:
        _STEMS.clear()
        _NOISE.intersection_update(_BASE_NOISE)
    return list(map(_STEMS.__getitem__, words(text)))


def content(stems: list[str]) -> list[str]:
    """The stems (from `tokens`) that carry content: no stop words, no bare numbers."""
    return list(filterfalse(_NOISE.__contains__, stems))


def phrase_text(words: list[str]) -> str:
    """Tokens joined by single spaces and padded, for whole-phrase keyword matching."""
    return f" {' '.join(words)} "


def features(words: list[str]) -> Counter[Term]:
    """Unigrams and bigrams of the content words."""
    content_words = content(words)
    return Counter(chain(content_words, pairwise(content_words)))


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
        self._keyword_search = _KeywordSearch(self.keywords)
        self.profile = list(profile)
        self.reviewed_ids = frozenset(reviewed_ids)
        self._by_kind = {
            kind: [index for index, doc in enumerate(self.profile) if doc.kind == kind]
            for kind in ("review", "drafted", "dismissed")
        }
        # The profile's terms are the same in every ranking (their idf is not: it
        # depends on the candidates too), so its documents are read once.
        self._profile_counts = [features(tokens(doc.text)) for doc in self.profile]
        self._profile_frequency: Counter[Term] = Counter(chain.from_iterable(self._profile_counts))
        self._profile_bigrams = frozenset(
            term for term in self._profile_frequency if isinstance(term, tuple)
        )

    def rank(self, candidates: Sequence[Rankable]) -> list[Ranking]:
        """One `Ranking` per candidate, in the candidates' order.

        Most candidates resemble no profile document enough to earn points, and for them
        a lower bound of their norm settles it (see `_Comparison.may_reach`); the exact
        norm, which needs the document frequency of every one of their bigrams, is only
        computed for the others.
        """
        read = [self._read(candidate.title, candidate.abstract) for candidate in candidates]
        comparison = _Comparison(self._profile_counts, self._profile_frequency, read)
        dots = [comparison.dot_products(candidate) for candidate in read]
        close = [
            index
            for index, (candidate, products) in enumerate(zip(read, dots, strict=True))
            if comparison.may_reach(candidate, max(products, default=0.0))
        ]
        norms = dict(zip(close, comparison.norms([read[i] for i in close], read), strict=True))
        return [
            self._ranking(candidate.arxiv_id, document.keyword, products, norms.get(index))
            for index, (candidate, document, products) in enumerate(
                zip(candidates, read, dots, strict=True)
            )
        ]

    def _read(self, title: str, abstract: str) -> _Candidate:
        """A candidate's terms and keyword signal: everything that needs no idf."""
        title_stems, abstract_stems = tokens(title), tokens(abstract)
        content_words = content(title_stems + abstract_stems)
        unigrams = Counter(content_words)
        return _Candidate(
            content_words,
            unigrams,
            Counter(filter(self._profile_bigrams.__contains__, pairwise(content_words))),
            self._keyword_search.signal(title_stems, abstract_stems, unigrams),
        )

    def _ranking(
        self, arxiv_id: str, keyword: Signal | None, dots: list[float], norm: float | None
    ) -> Ranking:
        """The signals and score of one candidate; without a `norm`, no profile document
        is close enough to count."""
        signals = [] if keyword is None else [keyword]
        if norm is not None:
            similarity = [dot / norm for dot in dots]
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


class _Candidate(NamedTuple):
    """A candidate as ranking reads it, once: its content words and what is counted of them."""

    #: Stems of title and abstract without stop words and numbers: its bigrams are the
    #: adjacent pairs.
    content: list[str]
    unigrams: Counter[str]
    #: Only the bigrams that the profile has too: the others are counted when needed.
    profile_bigrams: Counter[tuple[str, str]]
    keyword: Signal | None


class _KeywordSearch:
    """Finds the configured keywords in a stemmed title and abstract."""

    def __init__(self, keywords: Sequence[tuple[str, str]]) -> None:
        #: (keyword, phrase, its content words, whether the phrase is one content word)
        self.keywords = [
            (
                keyword,
                phrase,
                frozenset(content(phrase.split())),
                content(phrase.split()) == phrase.split()[:1] == phrase.split(),
            )
            for keyword, phrase in keywords
        ]
        #: For each keyword, the others whose phrase holds its own (and is longer).
        self.inside = [
            frozenset(
                other
                for other, (_, longer, _, _) in enumerate(self.keywords)
                if phrase != longer and phrase in longer
            )
            for _, phrase, _, _ in self.keywords
        ]

    def signal(
        self, title_stems: list[str], abstract_stems: list[str], unigrams: Counter[str]
    ) -> Signal | None:
        """Keyword points; a keyword inside a longer matched one ("language model" in
        "large language model") is not counted twice.

        The text's content words rule most keywords out by a dict lookup or two, and a
        one-word keyword among them needs no search of the abstract either; the stemmed
        title and abstract are only joined for a substring search when needed.
        """
        title = abstract = ""
        hits: dict[int, float] = {}
        for index, (_, phrase, needed, one_word) in enumerate(self.keywords):
            if not unigrams.keys() >= needed:
                continue
            title = title or phrase_text(title_stems)
            if phrase in title:
                hits[index] = KEYWORD_TITLE_POINTS
                continue
            if not one_word:
                abstract = abstract or phrase_text(abstract_stems)
                if phrase not in abstract:
                    continue
            hits[index] = KEYWORD_ABSTRACT_POINTS
        kept = [
            (self.keywords[index][0], points)
            for index, points in hits.items()
            if self.inside[index].isdisjoint(hits)
        ]
        if not kept:
            return None
        points = min(sum(points for _, points in kept), KEYWORD_CAP)
        return Signal("keyword", ", ".join(keyword for keyword, _ in kept), points)


#: `tf > 1` as a C-level predicate, to pick the repeated terms out of a count.
_MORE_THAN_ONCE = (1).__lt__
#: How much rounding `_Comparison.may_reach` allows for, relatively: far more than the
#: few ulps float sums can be off by.
_ROUNDING_MARGIN = 1e-9


class _Comparison:
    """One ranking's TF-IDF statistics, and the candidates' cosines with the profile.

    The document frequencies (over candidates and profile) are known from the start for
    unigrams and for the profile's bigrams: all that cosines with the profile involve.
    A candidate's other bigrams only weigh in its norm, and are counted in `norms`.
    """

    def __init__(
        self,
        profile_counts: Sequence[Counter[Term]],
        profile_frequency: Counter[Term],
        candidates: Sequence[_Candidate],
    ) -> None:
        self.frequency = profile_frequency.copy()
        self.frequency.update(chain.from_iterable(c.unigrams for c in candidates))
        self.frequency.update(chain.from_iterable(c.profile_bigrams for c in candidates))
        total = len(candidates) + len(profile_counts)
        common = MAX_DF * total
        #: Smoothed idf by document frequency (as arxiv-sanity's max_df, terms in more
        #: than MAX_DF of the documents weigh nothing: they say nothing about a paper).
        self.idf_by_df = [
            0.0 if df > common else math.log((1 + total) / (1 + df)) + 1.0
            for df in range(total + 1)
        ]
        self.idf_squared_by_df = [idf * idf for idf in self.idf_by_df]
        idf = {term: self.idf_by_df[self.frequency[term]] for term in profile_frequency}
        #: An inverted index of the profile: term -> [(document, its weight times the
        #: term's idf)], which for a term a candidate has once is the whole product.
        self.postings: dict[Term, list[tuple[int, float]]] = {}
        for index, counts in enumerate(profile_counts):
            for term, weight in _weights(counts, idf).items():
                self.postings.setdefault(term, []).append((index, idf[term] * weight))
        self.size = len(profile_counts)

    def dot_products(self, candidate: _Candidate) -> list[float]:
        """The candidate's TF-IDF vector, not yet normalised, dot each profile vector.

        Only the candidate's terms that also occur in the profile are looped over."""
        products = [0.0] * self.size
        for counts in (candidate.unigrams, candidate.profile_bigrams):
            for term in filter(self.postings.__contains__, counts):
                tf = counts[term]
                if tf == 1:
                    for index, product in self.postings[term]:
                        products[index] += product
                else:
                    sublinear = 1.0 + math.log(tf)
                    for index, product in self.postings[term]:
                        products[index] += sublinear * product
        return products

    def may_reach(self, candidate: _Candidate, best_dot: float) -> bool:
        """Whether the candidate's cosine with some profile document may reach
        MIN_SIMILARITY, told by a lower bound of its norm that needs no bigram counted.

        Unigrams count at least their idf squared. So do bigrams, at least that of their
        first word (no more documents have both words than have the first), and there
        are at least as many distinct bigrams as distinct first words: every word but
        the last, unless it occurs earlier too.
        """
        if best_dot <= 0.0:
            return False
        squares = self._idf_squared_sum(candidate.unigrams)
        last = candidate.content[-1]
        first_words = squares - (self._idf_squared(last) if candidate.unigrams[last] == 1 else 0)
        floor = math.sqrt(squares + first_words)
        return best_dot >= MIN_SIMILARITY * floor * (1.0 - _ROUNDING_MARGIN)

    def norms(
        self, candidates: Sequence[_Candidate], everyone: Sequence[_Candidate]
    ) -> list[float]:
        """The exact norm of each of `candidates`, once every document's bigrams (of
        `everyone`) are counted that these candidates have and the profile does not."""
        bigram_counts = [Counter(pairwise(candidate.content)) for candidate in candidates]
        uncounted = set(chain.from_iterable(bigram_counts)).difference(self.frequency)
        if uncounted:
            self.frequency.update(
                chain.from_iterable(
                    set(filter(uncounted.__contains__, pairwise(other.content)))
                    for other in everyone
                )
            )
        return [
            math.sqrt(self._squared_weights(c.unigrams) + self._squared_weights(bigrams)) or 1.0
            for c, bigrams in zip(candidates, bigram_counts, strict=True)
        ]

    def _squared_weights(self, counts: Counter[str] | Counter[tuple[str, str]]) -> float:
        """The sum of (idf * (1 + log tf)) squared over `counts`: every term's idf squared,
        plus what the repeated ones weigh on top."""
        squares = self._idf_squared_sum(counts)
        for term in compress(counts, map(_MORE_THAN_ONCE, counts.values())):
            squares += self._idf_squared(term) * ((1.0 + math.log(counts[term])) ** 2 - 1.0)
        return squares

    def _idf_squared(self, term: Term) -> float:
        return self.idf_squared_by_df[self.frequency[term]]

    def _idf_squared_sum(self, terms: Iterable[Term]) -> float:
        idf_squared = self.idf_squared_by_df.__getitem__
        return sum(map(idf_squared, map(self.frequency.__getitem__, terms)))


def _weights(counts: Counter[Term], idf: dict[Term, float]) -> dict[Term, float]:
    """Sublinear tf times idf, L2-normalised; weightless terms left out."""
    vector = {term: (1.0 + math.log(tf)) * idf[term] for term, tf in counts.items() if idf[term]}
    norm = math.sqrt(sum(weight * weight for weight in vector.values())) or 1.0
    return {term: weight / norm for term, weight in vector.items()}
