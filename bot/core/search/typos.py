"""Typo tolerance for Latin words: `mamaba` → mamba, `tranformer` → transformer.

A word that (almost) no review contains also looks for the indexed words one edit away,
but only where the corrected query still makes sense:

* never when the other words of the query find nothing (`Stable Diffusion`: no review
  has diffusion, so `stable` is not "corrected" to table, a query about something the
  column does not cover stays unanswered);
* never from an English dictionary word to another one (stable → table, bread → break):
  a real word the reader typed is what they meant, not a slip of the finger.
"""

from __future__ import annotations

from functools import lru_cache

from bot.core.search.groups import TYPO_FACTOR, TYPO_FACTOR_KNOWN, Alternative, Group
from bot.core.search_index import IndexStore

#: A word in at most this many reviews may be a misspelling of a commoner one.
TYPO_MAX_DF = 2
MAX_TYPO_WORDS = 3


def edits1(word: str) -> set[str]:
    """Every string one insertion, deletion, substitution or transposition away."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return (deletes | transposes | replaces | inserts) - {word}


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """An English dictionary (GCIDE, ~115,000 words, lower case), loaded once."""
    from english_words import get_english_words_set

    return frozenset(get_english_words_set(["gcide"], lower=True, alpha=True))


def is_dictionary_word(token: str) -> bool:
    """Whether an index token (singular, lower case) is an English word."""
    known = english_words()
    return token in known or f"{token}s" in known or f"{token}es" in known


def _live(group: Group, df: dict[str, int]) -> bool:
    return any(all(df.get(t, 0) > 0 for t in a.tokens) for a in group.alternatives) or bool(
        group.split and all(_live(part, df) for part in group.split)
    )


def correct_typos(
    store: IndexStore, groups: list[Group], leaves: list[Group], df: dict[str, int]
) -> None:
    """Add typo alternatives to the suspect words among `leaves` (in place)."""
    suspects = [g for g in leaves if g.typo_word and df.get(g.typo_word, 0) <= TYPO_MAX_DF][
        :MAX_TYPO_WORDS
    ]
    if not suspects:
        return
    asked = [group for group in groups if not group.bonus]
    others_found = {
        id(suspect): all(
            _live(g, df) for g in asked if g is not suspect and suspect not in (g.split or ())
        )
        for suspect in suspects
    }
    suspects = [s for s in suspects if others_found[id(s)]]
    if not suspects:
        return
    candidates = {g.typo_word: edits1(g.typo_word) for g in suspects if g.typo_word}
    known = store.dfs(sorted(set().union(*candidates.values())))
    for group in suspects:
        word = group.typo_word
        assert word is not None
        floor = max(3 * df.get(word, 0), 1)
        fixes = sorted(
            (c for c in candidates[word] if known.get(c, 0) >= floor),
            key=lambda c: (-known[c], c),
        )
        if fixes and is_dictionary_word(word):
            fixes = [fix for fix in fixes if not is_dictionary_word(fix)]
        for fix in fixes[:2]:
            factor = TYPO_FACTOR if df.get(word, 0) == 0 else TYPO_FACTOR_KNOWN
            group.alternatives.append(Alternative((fix,), factor, "typo"))
            df[fix] = known[fix]
