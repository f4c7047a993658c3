"""The ranker: review ids for parsed groups, against one connection's index.

Head hits (arXiv id, title, tags, authors, summary) come from `search_postings`, whose
weights already hold each field's BM25-style saturated term frequency (see
`bot.core.search_index.doc_terms`); body hits from FTS5 or GIN. Scoring is done here,
in Python, identically for both backends: for each group the value of its best
alternative (plus a little for every other spelling the review also uses), times the
group's idf, summed over groups, plus adjacency bonuses (AI反馈 written together),
times the share of groups matched. The first PHRASE_K reviews then get the phrase bonus
(`phrases`: the query's words standing together in their stored text) and are ordered
again. Equal scores go first to the review that carries
more of the query in its title or tags, then to the one added later.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from bot.core.search.groups import Alternative, Group
from bot.core.search.phrases import BODY_CHARS, PHRASE_FACTOR, PHRASE_K, Phrase
from bot.core.search.typos import correct_typos
from bot.core.search_index import IndexStore

MAX_RESULTS = 200
HEAD_K = 300
BODY_K = 500
BODY_SCAN_MAX_DF = 2000
BODY_WINDOW = 2000
BODY_WEIGHT = 1.5
#: Every other spelling of a group that a review also uses adds this share of its value:
#: the review about RLHF says RLHF and 人类反馈强化学习, one that mentions it says one.
OTHER_SPELLINGS = 0.15
#: What an adjacency bonus is worth next to a group.
BONUS_FACTOR = 0.5


def min_live(groups: int) -> int:
    """How many of a query's groups must exist in the index at all: a query about
    several things most of which no review mentions (football world cup) is not
    answered by the one that some review does mention."""
    return groups - groups // 3


class Ranker:
    """Ranks review ids for parsed groups against one connection's index."""

    def __init__(self, store: IndexStore, docs: int | None = None) -> None:
        self.store = store
        #: Reviews in the index (`search_state`), when the caller has read it already.
        self.docs = docs
        #: Each eligible review's [score, groups matched], and how many groups were
        #: asked, from the last scoring (its share of the groups: `_share`).
        self._totals: dict[int, list[float]] = {}
        self._groups = 1
        #: The `needed` values for which the last `rank` returns the same list (both
        #: ends included): `needed` only decides whether the common terms' body scan
        #: runs (and its LIMIT), so a next page can reuse a first page's ranking.
        self.same_for: tuple[float, float] = (1, math.inf)

    def rank(
        self,
        groups: list[Group],
        needed: int,
        min_share: float = 0.0,
        phrase: tuple[str, ...] = (),
    ) -> list[int]:
        """Review ids, best first, for the groups; `phrase` is the query's content words
        in order (`phrases.phrase_words`), for the phrase bonus."""
        docs = self.docs if self.docs is not None else self.store.state().get("docs", 0)
        docs = max(docs, 1)
        groups = [group.copy() for group in groups]
        asked = [group for group in groups if not group.bonus]
        leaves = [leaf for group in groups for leaf in (group, *(group.split or ()))]
        tokens = sorted({t for g in leaves for a in g.alternatives for t in a.tokens})
        df = self.store.dfs(tokens)
        correct_typos(self.store, asked, leaves, df)
        for leaf in leaves:
            leaf.alternatives = [
                a for a in leaf.alternatives if all(df.get(t, 0) > 0 for t in a.tokens)
            ]
        live = [
            group
            for group in groups
            if group.alternatives or (group.split and all(p.alternatives for p in group.split))
        ]
        live_asked = [group for group in live if not group.bonus]
        # Nothing below the body scan's condition depends on `needed`.
        self.same_for = (1, math.inf)
        if not live_asked:
            return []
        if min_share:
            count = len(asked)
            min_matched = max(2 if count >= 2 else 1, math.ceil(min_share * count))
        else:
            if len(live_asked) < min_live(len(asked)):
                return []
            min_matched = 1
        leaves = [leaf for group in live for leaf in (group, *(group.split or ()))]

        head_tokens = sorted({t for g in leaves for a in g.alternatives for t in a.tokens})
        by_token = self.store.head_lists(head_tokens, HEAD_K)
        head: dict[int, dict[int, float]] = {}
        prominent: dict[int, set[int]] = {}
        for leaf in leaves:
            head[id(leaf)], prominent[id(leaf)] = self._head(leaf, by_token)

        body: dict[int, dict[int, float]] = {id(leaf): {} for leaf in leaves}
        rare: list[tuple[Group, Alternative]] = []
        common: list[tuple[Group, Alternative]] = []
        for leaf in leaves:
            for alternative in leaf.alternatives:
                estimate = min(df[t] for t in alternative.tokens)
                (rare if estimate <= BODY_SCAN_MAX_DF else common).append((leaf, alternative))
        self._body(rare, body, floor=None)
        idf = [self._idf(group, df, docs) for group in live]
        scoring = (live, idf, head, body, prominent, len(asked), min_matched)
        keys = self._keys(*scoring)
        if len(keys) < needed and common:
            floor = self.store.newest_floor(BODY_WINDOW)
            self._body(common, body, floor=floor, limit=needed)
            keys = self._keys(*scoring)
            self.same_for = (needed, needed)  # the scan's LIMIT is `needed`
        elif common:
            self.same_for = (1, len(keys))  # a larger `needed` would scan
        # Only the first MAX_RESULTS are ever shown or counted: no need to sort the rest.
        # The keys end with the review's id, so no two are equal: plain tuple order.
        top = heapq.nsmallest(MAX_RESULTS, keys)
        ranked = [-key[2] for key in top]
        if len(phrase) >= 2 and len(ranked) >= 2:  # one result needs no reordering
            asked_idf = [w for w, group in zip(idf, live, strict=True) if not group.bonus]
            scale = PHRASE_FACTOR * sum(asked_idf) / len(asked_idf)
            first = {-key[2]: key for key in top[:PHRASE_K]}
            ranked = self._phrase_bonus(ranked, first, Phrase.of(phrase), scale)
        return ranked

    def _share(self, review_id: int) -> float:
        """The review's share of the groups matched, in the last scoring."""
        return self._totals[review_id][1] / self._groups

    def _phrase_bonus(
        self,
        ranked: list[int],
        keys: dict[int, tuple[float, int, int]],
        phrase: Phrase,
        scale: float,
    ) -> list[int]:
        """The first PHRASE_K reviews ordered again with the phrase bonus added (times
        their share of groups matched, like every other part of the score). Bonuses only
        raise scores, so none of them falls below a review after PHRASE_K."""
        top = ranked[:PHRASE_K]
        texts = self.store.review_texts(top, BODY_CHARS)
        boosted = {}
        for review_id in top:
            score, carried, newer = keys[review_id]
            weight = phrase.weight(texts[review_id]) if review_id in texts else 0.0
            share = self._share(review_id)
            boosted[review_id] = (score - scale * weight * share, carried, newer)
        return sorted(top, key=boosted.__getitem__) + ranked[PHRASE_K:]

    @staticmethod
    def _head(
        group: Group, by_token: dict[str, dict[int, int]]
    ) -> tuple[dict[int, float], set[int]]:
        """Head value per review: its best alternative, plus OTHER_SPELLINGS of each
        other one it has; an alternative counts where all its tokens are. Also the
        reviews whose title or tags carry the group."""
        per_alternative: list[dict[int, float]] = []
        prominent: set[int] = set()
        for alternative in group.alternatives:
            found: dict[int, float] = {}
            lists = sorted((by_token[t] for t in alternative.tokens), key=len)
            first, rest = lists[0], lists[1:]
            factor = alternative.factor / 10  # see search_index.encode_weight
            counts = alternative.kind != "typo"
            for review_id, weight in first.items():
                worst = weight
                for other in rest:
                    stored = other.get(review_id)
                    if stored is None:
                        break
                    # Stored weights are value << 1 | title/tags flag: keep the lower
                    # value, and the flag only if every token has it.
                    worst = (min(worst, stored) & ~1) | (worst & stored & 1)
                else:
                    found[review_id] = factor * (worst >> 1)
                    if counts and worst & 1:
                        prominent.add(review_id)
            per_alternative.append(found)
        return _combine(per_alternative), prominent

    def _body(
        self,
        wanted: list[tuple[Group, Alternative]],
        body: dict[int, dict[int, float]],
        floor: int | None,
        limit: int = 0,
    ) -> None:
        if not wanted:
            return
        hits = self.store.body_matches([a.tokens for _, a in wanted], limit or BODY_K, floor)
        for (leaf, alternative), review_ids in zip(wanted, hits, strict=True):
            value = alternative.factor * BODY_WEIGHT
            scores = body[id(leaf)]
            for review_id in review_ids:
                if value > scores.get(review_id, 0.0):
                    scores[review_id] = value

    @staticmethod
    def _values(
        group: Group, head: dict[int, dict[int, float]], body: dict[int, dict[int, float]]
    ) -> dict[int, float]:
        """How well each review matches a group: its best field, plus a little for the
        body when the head matched too. A compound (幽灵注意力) matches as written, or
        where every one of its parts matches, in whatever fields."""

        def leaf_values(leaf: Group) -> dict[int, float]:
            # max(x, y) + 0.25 * min(x, y), where a review missing from one side has 0
            # there (values are never negative): then it is the other side's value,
            # which is copied as it is instead of computed for every review.
            h, b = head[id(leaf)], body[id(leaf)]
            values = dict(h)
            for review_id, y in b.items():
                x = h.get(review_id)
                if x is None:
                    values[review_id] = y
                elif x >= y:
                    values[review_id] = x + 0.25 * y
                else:
                    values[review_id] = y + 0.25 * x
            return values

        values = leaf_values(group)
        if group.split:
            parts = [leaf_values(part) for part in group.split]
            for review_id in set.intersection(*(set(part) for part in parts)):
                mean = sum(part[review_id] for part in parts) / len(parts)
                values[review_id] = max(values.get(review_id, 0.0), mean)
        return values

    def _score(self, *scoring: Any) -> list[int]:
        """Review ids in order of score (then title/tags, then recency)."""
        return [-key[2] for key in heapq.nsmallest(MAX_RESULTS, self._keys(*scoring))]

    def _keys(
        self,
        live: list[Group],
        idf: list[float],
        head: dict[int, dict[int, float]],
        body: dict[int, dict[int, float]],
        prominent: dict[int, set[int]],
        groups: int,
        min_matched: int,
    ) -> list[tuple[float, int, int]]:
        """Each eligible review's sort key: minus its score, minus how many groups its
        title or tags carry, minus its id (the newer first; the id is `-key[2]`)."""
        # Per review: [score so far, groups matched]; one dictionary look-up per review
        # and group instead of two (this loop is most of a search's Python).
        totals: dict[int, list[float]] = {}
        carried: dict[int, int] = {}
        bonus: dict[int, float] = {}
        for weight, group in zip(idf, live, strict=True):
            values = self._values(group, head, body)
            if group.bonus:
                for review_id, value in values.items():
                    bonus[review_id] = bonus.get(review_id, 0.0) + BONUS_FACTOR * weight * value
                continue
            for review_id, value in values.items():
                found = totals.get(review_id)
                if found is None:
                    totals[review_id] = [0.0 + weight * value, 1]
                else:
                    found[0] += weight * value
                    found[1] += 1
            for review_id in prominent[id(group)]:
                carried[review_id] = carried.get(review_id, 0) + 1
        if min_matched > 1:
            totals = {r: found for r, found in totals.items() if found[1] >= min_matched}
        if bonus:
            for review_id, found in totals.items():
                found[0] += bonus.get(review_id, 0.0)

        self._totals, self._groups = totals, groups
        # The score times the share of groups matched, as one expression per review:
        # with thousands of candidates, this list is a good part of a search's time.
        held = carried.get
        return [
            (-found[0] * (found[1] / groups), -held(review_id, 0), -review_id)
            for review_id, found in totals.items()
        ]

    @staticmethod
    def _idf(group: Group, df: dict[str, int], docs: int) -> float:
        """Inverse document frequency of a group: its broadest alternative decides, and a
        compound is no commoner than its rarest part."""

        def frequency(leaf: Group) -> int:
            if not leaf.alternatives:
                return docs
            return max(min(df[t] for t in a.tokens) for a in leaf.alternatives)

        found = frequency(group)
        if group.split:
            found = min(found, *(frequency(part) for part in group.split))
        found = min(found, docs)
        return math.log(1 + (docs - found + 0.5) / (found + 0.5))


def _combine(per_alternative: list[dict[int, float]]) -> dict[int, float]:
    if len(per_alternative) == 1:
        return per_alternative[0]
    combined: dict[int, float] = {}
    best: dict[int, float] = {}
    for found in per_alternative:
        for review_id, value in found.items():
            combined[review_id] = combined.get(review_id, 0.0) + value
            best[review_id] = max(best.get(review_id, 0.0), value)
    return {
        review_id: best[review_id] + OTHER_SPELLINGS * (total - best[review_id])
        for review_id, total in combined.items()
    }
