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

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.search_text import STOPWORDS, fold, keep_token, units, word_parts

#: At most this many of the ranked reviews are looked at (a page is 5, a reader rarely
#: pages past 50), which keeps the bonus's cost independent of the index's size.
PHRASE_K = 50
#: A query's pairs beyond this many are not looked for.
MAX_PAIRS = 8
#: What a pair standing together is worth, per field (the head's field weights), times
#: PHRASE_FACTOR and the query's mean idf: in the title about half a matched group.
FIELD_WEIGHTS = {"title": 10.0, "tags": 9.0, "summary": 4.0, "body": 1.5}
PHRASE_FACTOR = 0.5
#: Only this much of a body is searched: a phrase worth a bonus is said early, and a
#: review's first pages bound the cost.
BODY_CHARS = 20_000

_STOPWORDS = "|".join(sorted(STOPWORDS, key=len, reverse=True))
#: What may stand between two words of a phrase (a bounded number of times, so that a
#: failed search cannot backtrack for long).
_GAP = rf"(?:[\s\-‐–/·_]|(?<![a-z0-9])(?:{_STOPWORDS})(?![a-z0-9])|[的之与和及])" + "{0,7}"
_WORD_START = r"(?<![a-z0-9])"
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
    """A regular expression for one query word: a Han run as written; a Latin word by
    its parts (singular or plural), written apart, hyphenated or together."""
    if not word.isascii() and not any(ch.isascii() for ch in word):
        return re.escape(word)
    parts = [part for part in word_parts(fold(word)) if keep_token(part)]
    if not parts:
        return re.escape(word.lower())
    plural = [re.escape(p) + ("(?:e?s)?" if p.isalpha() else "") for p in parts]
    return _WORD_START + r"[\s\-‐–_.'’+]?".join(plural) + _WORD_END


@dataclass(frozen=True)
class Phrase:
    """The adjacent pairs of a query's content words, compiled once per query."""

    pairs: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, words: Sequence[str]) -> Phrase:
        patterns = [_word_pattern(word) for word in words]
        pairs = [
            re.compile(first + _GAP + second, re.IGNORECASE)
            for first, second in itertools.pairwise(patterns)
        ]
        return cls(tuple(pairs[:MAX_PAIRS]))

    def weight(self, fields: Mapping[str, Sequence[str]]) -> float:
        """How much of the query the review writes together: for each pair, the weight
        of the best field (FIELD_WEIGHTS) in which it stands together, summed."""
        texts = {
            name: [fold(text[:BODY_CHARS] if name == "body" else text) for text in values]
            for name, values in fields.items()
        }
        total = 0.0
        for pair in self.pairs:
            best = 0.0
            for name, values in texts.items():
                weight = FIELD_WEIGHTS[name]
                if weight > best and any(pair.search(text) for text in values):
                    best = weight
            total += best
        return total
