"""The phrase bonus: content words of the query that a review writes next to each other.

`low rank adaptation` is about the review that says "low-rank adaptation", not the one
with "low" in one sentence and "rank" in another; `AI反馈` is about the review that
says AI反馈, not the one by Meta AI that mentions 反馈. The index knows which words a
review has, not where, so this is checked afterwards, on the stored text of the few
reviews already ranked first (`Ranker`), never over the whole index: a handful of
regular-expression searches per query, identical on both backends.

Two words stand together when only spaces, hyphens, slashes, English stopwords
(chain *of* thought) or a Chinese function character (人类反馈*的*强化学习) lie between
them, in the query's order; a sentence break or any other word separates them.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.search_text import STOPWORDS, fold, keep_token, units, word_parts

#: At most this many of the ranked reviews are looked at (a page is 5: four pages),
#: which keeps the bonus's cost independent of the index's size. 50 cost PostgreSQL
#: about 5 ms of p99 at 10,000 reviews (fetching and searching 50 bodies).
PHRASE_K = 20
#: A query's pairs beyond this many are not looked for.
MAX_PAIRS = 8
#: Compiled word pairs kept (`_pair`): about 2 KB each, 8 MB at most.
PAIR_CACHE_SIZE = 4096
#: What a pair standing together is worth, per field (the head's field weights), times
#: PHRASE_FACTOR and the query's mean idf: in the title about half a matched group.
FIELD_WEIGHTS = {"title": 10.0, "tags": 9.0, "summary": 4.0, "body": 1.5}
PHRASE_FACTOR = 0.5
#: Only this much of a body is searched: a phrase worth a bonus is said early (the
#: title and summary say it first), and the body's start bounds the cost.
BODY_CHARS = 2_000

_STOPWORDS = "|".join(sorted(STOPWORDS, key=len, reverse=True))
#: What may stand between two words of a phrase (a bounded number of times, so that a
#: failed search cannot backtrack for long).
_GAP = rf"(?:[\s\-‐–/·_]|(?<![a-z0-9])(?:{_STOPWORDS})(?![a-z0-9])|[的之与和及])" + "{0,7}"
_WORD_END = r"(?![a-z0-9])"


def phrase_words(content: str) -> tuple[str, ...]:
    """The query's content words in order (a Latin word, or a Han run as written), from
    its text with fillers removed; stopwords and one-letter words are left out."""
    words: list[str] = []
    for unit in units(content):
        if unit.kind == "cjk" or any(keep_token(p) for p in word_parts(unit.text)):
            words.append(unit.text)
    return tuple(words)


def _word_pattern(word: str) -> str:
    """A regular expression for one query word, over lower-cased text: a Han run as
    written; a Latin word by its parts (singular or plural), written apart, hyphenated
    or together. It starts with a literal (the word-start check comes after it, as a
    lookbehind), so that the regex engine can skip through a long body at C speed."""
    if not any(ch.isascii() for ch in word):
        return re.escape(word)
    parts = [part for part in word_parts(fold(word)) if keep_token(part)]
    if not parts:
        return re.escape(word.lower())
    first = re.escape(parts[0])
    start = f"(?<![a-z0-9]{first})" if parts[0].isascii() else ""
    plural = [re.escape(p) + ("(?:e?s)?" if p.isalpha() else "") for p in parts]
    return (
        first
        + start
        + plural[0][len(first) :]
        + "".join(r"[\s\-‐–_.'’+]?" + p for p in plural[1:])
        + _WORD_END
    )


def _literal(word: str) -> str:
    """Text that every match of `_word_pattern(word)` contains as it is (its start)."""
    if not any(ch.isascii() for ch in word):
        return word
    parts = [part for part in word_parts(fold(word)) if keep_token(part)]
    return parts[0] if parts else word.lower()


@dataclass(frozen=True)
class Pair:
    """Two adjacent content words of a query: their expression, compiled only when a
    text holds both words' literals (`_literal`), without which it cannot match. Most
    of the ranked reviews hold only one, so most pairs are never compiled."""

    first: str
    second: str
    literals: tuple[str, str]

    def search(self, text: str) -> bool:
        one, two = self.literals
        if one not in text or two not in text:
            return False
        return _pair(self.first, self.second).search(text) is not None


@dataclass(frozen=True)
class Phrase:
    """The adjacent pairs of a query's content words."""

    pairs: tuple[Pair, ...]

    @classmethod
    def of(cls, words: Sequence[str]) -> Phrase:
        patterns = [(_word_pattern(word), _literal(word)) for word in words]
        pairs = [
            Pair(first, second, (one, two))
            for (first, one), (second, two) in itertools.pairwise(patterns)
        ]
        return cls(tuple(pairs[:MAX_PAIRS]))

    def weight(self, fields: Mapping[str, Sequence[str]]) -> float:
        """How much of the query the review writes together: for each pair, the weight
        of the best field (FIELD_WEIGHTS) in which it stands together, summed. A field
        is only prepared (and searched) when it could still raise a pair's weight."""
        prepared: dict[str, list[str]] = {}

        def texts(name: str) -> list[str]:
            if name not in prepared:
                prepared[name] = [_searchable(name, text) for text in fields[name]]
            return prepared[name]

        total = 0.0
        for pair in self.pairs:
            best = 0.0
            for name in fields:
                weight = FIELD_WEIGHTS[name]
                if weight > best and any(pair.search(text) for text in texts(name)):
                    best = weight
            total += best
        return total


@functools.lru_cache(maxsize=PAIR_CACHE_SIZE)
def _pair(first: str, second: str) -> re.Pattern[str]:
    """Two word patterns with the gap between them, compiled once per process: the gap's
    stopword alternation made compiling a pair cost about half a millisecond, a tenth of
    a search, and `re`'s own cache (512 patterns) forgets them under distinct queries.
    Readers' queries share their words, so pairs come back often."""
    return re.compile(first + _GAP + second)


def _searchable(field: str, text: str) -> str:
    """Lower-cased text to search; the short fields folded like the index folds them
    (full-width letters, accents), the body only lower-cased and cut at BODY_CHARS:
    folding a long body would cost more than the rest of a search."""
    if field == "body":
        return text[:BODY_CHARS].lower()
    return fold(text).lower()
