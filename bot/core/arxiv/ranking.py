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
needed to deploy the bot. What keeps it fast: words are stemmed through memos with
C-level `map`, idf is computed once per document frequency, keywords are ruled out by
the content words before any substring search, and most candidates are shown to be
far from every profile document (`_Comparison.may_be_close`) before all their bigrams
are counted, which is then done only for the few close ones.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, compress, pairwise
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


#: Stems that are no content, besides bare numbers: stop words, and what they stem to.
_NOISE = frozenset(STOPWORDS | {_stem(word) for word in STOPWORDS})
#: The memos are dropped when they grow past this, so a bot running for months stays small.
STEM_MEMO_LIMIT = 200_000


def _is_noise(stem: str) -> bool:
    return stem in _NOISE or stem.isdigit()


class _StemMemo(dict[str, str]):
    """Word to stem, computed on first sight: a text is then stemmed by one C-level
    `map(memo.__getitem__, words)`, with no Python code run per word. The memo of
    content stems maps stop words and numbers to "" instead, for `filter` to drop."""

    def __init__(self, *, content_only: bool) -> None:
        super().__init__()
        self.content_only = content_only

    def __missing__(self, word: str) -> str:
        stem = _stem(word)
        if self.content_only and _is_noise(stem):
            stem = ""
        self[word] = stem
        return stem


_STEMS = _StemMemo(content_only=False)
_CONTENT_STEMS = _StemMemo(content_only=True)


def _bound_memos() -> None:
    if len(_STEMS) > STEM_MEMO_LIMIT or len(_CONTENT_STEMS) > STEM_MEMO_LIMIT:
        _STEMS.clear()
        _CONTENT_STEMS.clear()


def _ascii_word_bytes() -> bytes:
    """A `bytes.translate` table: A-Z lower-cased, a-z and 0-9 kept, every other byte a space."""
    table = bytearray(b" " * 256)
    for lower, upper in zip(string.ascii_lowercase, string.ascii_uppercase, strict=True):
        table[ord(lower)] = table[ord(upper)] = ord(lower)
    for digit in string.digits:
        table[ord(digit)] = ord(digit)
    return bytes(table)


_ASCII_WORD_BYTES = _ascii_word_bytes()


def _words(text: str) -> list[str]:
    """The lower-cased runs of a-z and 0-9 in `text`, as `_WORD.findall(text.lower())`.

    ASCII text (nearly every title and abstract) takes a byte translation and a split,
    twice as fast; other text takes the regular expression, since lower-casing can turn
    a non-ASCII letter into an ASCII one (the Kelvin sign into k).
    """
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii").split()
    return _WORD.findall(text.lower())


def _stems(text_words: list[str]) -> list[str]:
    return list(map(_STEMS.__getitem__, text_words))


def _content_stems(text_words: list[str]) -> list[str]:
    """The stems of the words that carry content: no stop words, no bare numbers."""
    return list(filter(None, map(_CONTENT_STEMS.__getitem__, text_words)))


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed words; Chinese characters fall away, English terms stay."""
    _bound_memos()
    return _stems(_words(text))


def phrase_text(stems: list[str]) -> str:
    """Tokens joined by single spaces and padded, for whole-phrase keyword matching."""
    return f" {' '.join(stems)} "


def features(stems: list[str]) -> Counter[Term]:
    """Unigrams and bigrams of the content words (of `tokens`)."""
    return _count_terms([stem for stem in stems if not _is_noise(stem)])


def _count_terms(content: list[str]) -> Counter[Term]:
    """The unigrams, then the bigrams, of content words. The order matters: it is the
    order in which a similarity adds up, and so decides its last bit."""
    return Counter(chain(content, pairwise(content)))


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
        self._profile_bigrams = frozenset(
            term for counts in self._profile_counts for term in counts if isinstance(term, tuple)
        )

    def rank(self, candidates: Sequence[Rankable]) -> list[Ranking]:
        """One `Ranking` per candidate, in the candidates' order.

        Most candidates resemble no profile document enough to earn points, which their
        unigrams and the bigrams they share with the profile tell; all their bigrams are
        only counted, and their similarities computed, for the others.
        """
        _bound_memos()
        read = [self._read(candidate.title, candidate.abstract) for candidate in candidates]
        comparison = _Comparison(self._profile_counts, read)
        close = [index for index, document in enumerate(read) if comparison.may_be_close(document)]
        similarities = dict(
            zip(close, comparison.similarities([read[i] for i in close], read), strict=True)
        )
        return [
            self._ranking(candidate.arxiv_id, document.keyword, similarities.get(index))
            for index, (candidate, document) in enumerate(zip(candidates, read, strict=True))
        ]

    def _read(self, title: str, abstract: str) -> _Candidate:
        """What ranking needs of a candidate's text, read once."""
        title_words, abstract_words = _words(title), _words(abstract)
        content = _content_stems(title_words + abstract_words)
        unigrams: Counter[Term] = Counter(content)
        return _Candidate(
            content,
            unigrams,
            Counter(filter(self._profile_bigrams.__contains__, pairwise(content))),
            self._keyword_search.signal(title_words, abstract_words, unigrams),
        )

    def _ranking(
        self, arxiv_id: str, keyword: Signal | None, similarity: list[float] | None
    ) -> Ranking:
        """A candidate's signals and score; without `similarity`, no profile document is
        close enough to count."""
        signals = [] if keyword is None else [keyword]
        if similarity is not None:
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
    #: The content words of title and abstract (`features`' words), in order.
    content: list[str]
    unigrams: Counter[Term]
    #: Only the bigrams that the profile has too.
    profile_bigrams: Counter[Term]
    keyword: Signal | None


class _Keyword(NamedTuple):
    label: str
    #: As `phrase_text` pads it: searched for in the stemmed title and abstract.
    phrase: str
    #: Its content words: a text without them all cannot have the phrase.
    needed: frozenset[str]
    #: The phrase is one content word: a text with that word has the phrase, in the
    #: title or else in the abstract.
    one_word: bool


class _KeywordSearch:
    """Finds the configured keywords in a title and abstract."""

    def __init__(self, keywords: Sequence[tuple[str, str]]) -> None:
        self.keywords = []
        for label, phrase in keywords:
            stems = phrase.split()
            needed = [stem for stem in stems if not _is_noise(stem)]
            one_word = len(stems) == 1 and needed == stems
            self.keywords.append(_Keyword(label, phrase, frozenset(needed), one_word))
        self.vocabulary = frozenset().union(*(keyword.needed for keyword in self.keywords))
        #: Whether some keyword is all stop words, and so never ruled out beforehand.
        self.unconditional = any(not keyword.needed for keyword in self.keywords)
        #: For each keyword, the others whose phrase holds its own (and is longer).
        self.inside = [
            frozenset(
                index
                for index, other in enumerate(self.keywords)
                if other.phrase != keyword.phrase and keyword.phrase in other.phrase
            )
            for keyword in self.keywords
        ]

    def signal(
        self, title_words: list[str], abstract_words: list[str], unigrams: Counter[Term]
    ) -> Signal | None:
        """Keyword points; a keyword inside a longer matched one ("language model" in
        "large language model") is not counted twice.

        The text's content words (`unigrams`) rule most keywords out, and a one-word
        keyword needs no search of the abstract either: title and abstract are only
        stemmed and joined for a substring search when needed.
        """
        present = unigrams.keys() & self.vocabulary
        if not present and not self.unconditional:
            return None
        title = abstract = ""
        hits: dict[int, float] = {}
        for index, keyword in enumerate(self.keywords):
            if not keyword.needed <= present:
                continue
            title = title or phrase_text(_stems(title_words))
            if keyword.phrase in title:
                hits[index] = KEYWORD_TITLE_POINTS
                continue
            if not keyword.one_word:
                abstract = abstract or phrase_text(_stems(abstract_words))
                if keyword.phrase not in abstract:
                    continue
            hits[index] = KEYWORD_ABSTRACT_POINTS
        kept = [
            (self.keywords[index].label, points)
            for index, points in hits.items()
            if self.inside[index].isdisjoint(hits)
        ]
        if not kept:
            return None
        points = min(sum(points for _, points in kept), KEYWORD_CAP)
        return Signal("keyword", ", ".join(label for label, _ in kept), points)


#: `tf > 1` as a C-level predicate, to pick the repeated terms out of a count.
_MORE_THAN_ONCE = (1).__lt__
#: How much rounding `_Comparison.may_be_close` allows for, relatively: far more than
#: the few ulps a float sum can be off by.
_ROUNDING_MARGIN = 1e-9


class _Comparison:
    """One ranking's TF-IDF statistics (over candidates and profile together), and the
    candidates' cosine similarities with the profile documents.

    The document frequencies of unigrams and of the profile's bigrams are counted at
    once; those of other bigrams only matter to the norm of the candidates close to the
    profile, and are only counted for those (in `similarities`).

    Similarities are computed as they always were, operation for operation and in the
    same order, so that they come out the same to the last bit: a similarity of exactly
    1.0, or points tied with another signal's, decide the order of the reasons.
    """

    def __init__(
        self, profile_counts: Sequence[Counter[Term]], candidates: Sequence[_Candidate]
    ) -> None:
        self.frequency: Counter[Term] = Counter(chain.from_iterable(profile_counts))
        self.frequency.update(chain.from_iterable(c.unigrams for c in candidates))
        self.frequency.update(chain.from_iterable(c.profile_bigrams for c in candidates))
        total = len(candidates) + len(profile_counts)
        common = MAX_DF * total
        # Smoothed idf depends on nothing but the document frequency: it is computed once
        # per frequency, not once per term. As arxiv-sanity's max_df, terms in more than
        # MAX_DF of the documents weigh nothing: they say nothing about a paper and would
        # only slow the comparison down.
        self.idf_by_df = [
            0.0 if df > common else math.log((1 + total) / (1 + df)) + 1.0
            for df in range(total + 1)
        ]
        self.idf_squared_by_df = [weight * weight for weight in self.idf_by_df]
        self.idf: dict[Term, float] = {}
        self.idf_squared: dict[Term, float] = {}
        self._add_idf(self.frequency)
        # An inverted index of the profile: each candidate term looks up who shares it,
        # with the document's weight and, for a term the candidate has once (most of
        # them), the whole product with the candidate's weight, the term's idf.
        self.postings: dict[Term, list[tuple[int, float]]] = {}
        self.products: dict[Term, list[tuple[int, float]]] = {}
        for index, counts in enumerate(profile_counts):
            for term, weight in _weights(counts, self.idf).items():
                self.postings.setdefault(term, []).append((index, weight))
                self.products.setdefault(term, []).append((index, self.idf[term] * weight))
        self.size = len(profile_counts)

    def may_be_close(self, candidate: _Candidate) -> bool:
        """Whether the candidate's cosine with some profile document may reach
        MIN_SIMILARITY: false for most candidates, and told at a fraction of the cost.

        Its dot products with the profile are exact (but for rounding), and its norm is
        bounded from below without its bigrams counted. Unigrams weigh at least their
        idf. So do bigrams, at least the idf of their first word (no more documents have
        both words than have the first), and there are at least as many distinct bigrams
        as distinct first words: every content word but the last, unless it occurs twice.
        """
        scores = [0.0] * self.size
        for counts in (candidate.unigrams, candidate.profile_bigrams):
            self._add_products(scores, filter(self.postings.__contains__, counts), counts)
        best = max(scores, default=0.0)
        if best <= 0.0:
            return False
        # Far from every profile document, if the norm squared is known to exceed this.
        far = (best / (MIN_SIMILARITY * (1.0 - _ROUNDING_MARGIN))) ** 2
        idf_squared, unigrams = self.idf_squared, candidate.unigrams
        first_words = squares = sum(map(idf_squared.__getitem__, unigrams))
        last = candidate.content[-1]
        if unigrams[last] == 1:
            first_words -= idf_squared[last]
        if squares + first_words > far:
            return False
        # Not told yet: repeated unigrams weigh more than their idf.
        for term in compress(unigrams, map(_MORE_THAN_ONCE, unigrams.values())):
            squares += idf_squared[term] * ((1.0 + math.log(unigrams[term])) ** 2 - 1.0)
        return squares + first_words <= far

    def similarities(
        self, candidates: Sequence[_Candidate], everyone: Sequence[_Candidate]
    ) -> list[list[float]]:
        """The cosines of each of `candidates` with every profile document, once the
        bigrams these have (and the profile has not) are counted in `everyone`."""
        counts = [_count_terms(candidate.content) for candidate in candidates]
        uncounted = set(chain.from_iterable(counts)).difference(self.frequency)
        if uncounted:
            self.frequency.update(
                chain.from_iterable(
                    set(filter(uncounted.__contains__, pairwise(other.content)))
                    for other in everyone
                )
            )
            self._add_idf(uncounted)
        return [self._similarities(term_counts) for term_counts in counts]

    def _similarities(self, counts: Counter[Term]) -> list[float]:
        scores = [0.0] * self.size
        self._add_products(scores, counts.keys() & self.postings.keys(), counts)
        idf_squared = self.idf_squared
        squares = sum(map(idf_squared.__getitem__, counts))
        for term, tf in counts.most_common():
            if tf == 1:
                break
            squares += idf_squared[term] * ((1.0 + math.log(tf)) ** 2 - 1.0)
        norm = math.sqrt(squares) or 1.0
        return [score / norm for score in scores]

    def _add_products(
        self, scores: list[float], shared: Iterable[Term], counts: Counter[Term]
    ) -> None:
        """Adds to each profile document's score the products of its weights with the
        candidate's (sublinear tf times idf, before normalising) over the `shared` terms."""
        for term in shared:
            tf = counts[term]
            if tf == 1:
                for index, product in self.products[term]:
                    scores[index] += product
            else:
                weight = self.idf[term] * (1.0 + math.log(tf))
                for index, other in self.postings[term]:
                    scores[index] += weight * other

    def _add_idf(self, terms: Iterable[Term]) -> None:
        terms = list(terms)
        frequencies = list(map(self.frequency.__getitem__, terms))
        self.idf.update(zip(terms, map(self.idf_by_df.__getitem__, frequencies), strict=True))
        self.idf_squared.update(
            zip(terms, map(self.idf_squared_by_df.__getitem__, frequencies), strict=True)
        )


def _weights(counts: Counter[Term], idf: dict[Term, float]) -> dict[Term, float]:
    """Sublinear tf times idf, L2-normalised; weightless terms left out."""
    vector = {term: (1.0 + math.log(tf)) * idf[term] for term, tf in counts.items() if idf[term]}
    norm = math.sqrt(sum(weight * weight for weight in vector.values())) or 1.0
    return {term: weight / norm for term, weight in vector.items()}
