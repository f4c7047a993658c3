"""What a parsed query is made of: groups (one per thing the reader asked about), each
with alternatives (conjunctions of index tokens), and how much each kind is worth."""

from __future__ import annotations

from dataclasses import dataclass

#: A compound's parts matched separately (gpt AND 3 for GPT-3).
PARTS_FACTOR = 0.9
#: Another spelling of an alias group (人类反馈强化学习 for RLHF).
ALIAS_FACTOR = 0.8
#: A typo fix of a word no review contains.
TYPO_FACTOR = 0.7
#: A correction of a word that some review does contain (bart, next to bert) is only a
#: weak fallback: what the reader typed, found as typed, ranks first.
TYPO_FACTOR_KNOWN = 0.3


@dataclass(frozen=True)
class Alternative:
    """One way a group can match: all of `tokens`, worth `factor` of a full match."""

    tokens: tuple[str, ...]
    factor: float
    kind: str  # "term" | "parts" | "alias" | "typo"


@dataclass
class Group:
    """One thing the reader asked about, with its alternatives."""

    label: str
    alternatives: list[Alternative]
    #: A single Latin word that, if rare, may be misspelt.
    typo_word: str | None = None
    #: A Chinese piece of three or more characters (its bigrams may be relaxed).
    cjk_piece: str | None = None
    #: For a Chinese compound holding an alias (幽灵注意力 holds 注意力): the groups it
    #: splits into. It matches as written, or where all of these match; on the relaxed
    #: retry they become groups of their own.
    split: list[Group] | None = None
    #: An adjacency bonus (AI反馈 written together): it adds to the score of reviews
    #: that have it, but is not one of the things asked about (no quorum, no share).
    bonus: bool = False

    def copy(self) -> Group:
        return Group(
            self.label,
            list(self.alternatives),
            self.typo_word,
            self.cjk_piece,
            [group.copy() for group in self.split] if self.split is not None else None,
            self.bonus,
        )
