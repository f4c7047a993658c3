"""Keyword search over published reviews, Chinese and English, on SQLite and PostgreSQL.

How a query runs
----------------
1. The query is cleaned and cut to MAX_QUERY_CHARS, then split into *groups*, one per
   thing the reader asked about: an arXiv id, a word, a Chinese piece, or an alias
   (`bot.core.search_text` makes the tokens). A group has *alternatives*, each a
   conjunction of tokens: a Chinese word is the AND of its bigrams; GPT-3 is `gpt3` or
   `gpt AND 3`; an alias group (RLHF ⇄ 人类反馈强化学习, from the `search_aliases` table)
   adds the other spellings; a Latin word that (almost) no review contains adds its
   closest vocabulary terms, one edit away (mamaba → mamba, tranformer → transformer),
   as a weak fallback if a review or two do contain the word as typed (bart ≠ bert).
2. Head hits (arXiv id, title, tags, authors, summary) come from `search_postings`,
   whose primary key (term, weight, review_id) returns a term's best reviews first:
   one short index range read per token, LIMIT HEAD_K, however common the term.
3. Body hits come from SQLite FTS5 or a PostgreSQL GIN index over the same tokens,
   newest first, LIMIT BODY_K. Terms in more than BODY_SCAN_MAX_DF reviews do not drive
   a body scan (that is what would make 模型 or "language" scan everything); they
   still rank through the head, and are looked up among the newest BODY_WINDOW reviews
   only when the head and rarer terms found too little.
4. Scoring is done here, in Python, identically for both backends: for each group the
   best field weight of its best alternative (ident 20 > title 10 > tags 9 > authors 8
   > summary 4 > body 1.5; a word that is only part of a compound x0.7; compound parts
   matched separately x0.9, aliases x0.8, typo fixes x0.7), times the group's idf,
   summed over groups, times the share of groups matched. Ties go to the review added
   later. A Chinese compound holding an alias (幽灵注意力) matches as written or where
   all its parts (幽灵, 注意力 or an alias of it) match, in whatever fields.
5. A Chinese query that finds nothing as written (对齐效果好) is retried with its
   aliases and bigrams as separate groups, of which at least half must match.

Why an index of our own plus the engines' full-text indexes, and not bm25()/ts_rank():
SQLite's bm25 and PostgreSQL's ts_rank rank differently, and both must score every
match before a LIMIT applies, which at 100,000 reviews makes common terms slow. The
engines here only answer "which reviews contain these tokens" over tokens made in
Python, so both backends return the same reviews in the same order (a test checks
this), and every query reads a bounded number of index entries.

At most MAX_RESULTS results are ranked; a query matching more says MAX_RESULTS.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.conversation import clean_input
from bot.core.reviews import ReviewView
from bot.core.search_index import IndexStore
from bot.core.search_text import (
    CJK_SPLIT_CHARS,
    arxiv_token,
    bigrams,
    cjk_pieces,
    extract_arxiv_ids,
    fold,
    joined,
    keep_token,
    units,
    word_parts,
)
from bot.db.models import Review, SearchAlias

#: How long the alias table may be served from memory (see SearchService._aliases).
ALIAS_CACHE_SECONDS = 30.0

MAX_QUERY_CHARS = 200
MAX_GROUPS = 12
MAX_RESULTS = 200
HEAD_K = 300
BODY_K = 500
BODY_SCAN_MAX_DF = 2000
BODY_WINDOW = 2000
BODY_WEIGHT = 1.5
PARTS_FACTOR = 0.9
ALIAS_FACTOR = 0.8
TYPO_FACTOR = 0.7
#: A correction of a word that some review does contain (bart, next to bert) is only a
#: weak fallback: what the reader typed, found as typed, ranks first.
TYPO_FACTOR_KNOWN = 0.3
#: A word in at most this many reviews may be a misspelling of a commoner one.
TYPO_MAX_DF = 2
MAX_TYPO_WORDS = 3
RELAXED_SHARE = 0.5


@dataclass(frozen=True)
class SearchPage:
    query: str
    items: tuple[ReviewView, ...]
    offset: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


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

    def copy(self) -> Group:
        return Group(
            self.label,
            list(self.alternatives),
            self.typo_word,
            self.cjk_piece,
            [group.copy() for group in self.split] if self.split is not None else None,
        )


# --- aliases ---------------------------------------------------------------------


def alias_key(term: str) -> str:
    """What makes two alias entries the same (the migration keeps a frozen copy)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", term).casefold()).strip()


def phrase_alternatives(text: str) -> list[tuple[str, ...]]:
    """Alternatives for a phrase: the compound as one token if it is one word, and the
    conjunction of all its parts and bigrams."""
    ids, rest = extract_arxiv_ids(fold(text))
    conjunction = [arxiv_token(arxiv_id) for arxiv_id in ids]
    pieces = list(units(rest))
    for unit in pieces:
        if unit.kind == "cjk":
            conjunction.extend(bigrams(unit.text))
        else:
            conjunction.extend(part for part in word_parts(unit.text) if keep_token(part))
    alternatives: list[tuple[str, ...]] = []
    if len(pieces) == 1 and not ids and pieces[0].kind == "word":
        whole = joined(pieces[0].text)
        if len(word_parts(pieces[0].text)) > 1 and keep_token(whole):
            alternatives.append((whole,))
    if conjunction:
        alternatives.append(tuple(dict.fromkeys(conjunction)))
    return alternatives


@dataclass(frozen=True)
class _Atom:
    kind: str  # "word" (one part of a word) | "cjk" (a Han/kana run)
    text: str
    unit: int


@dataclass(frozen=True)
class _Member:
    term: str
    group_id: int
    atoms: tuple[str, ...]
    joined: str | None
    alternatives: tuple[tuple[str, ...], ...]


def _atoms(text: str) -> tuple[list[_Atom], dict[int, str]]:
    atoms: list[_Atom] = []
    words: dict[int, str] = {}
    for index, unit in enumerate(units(text)):
        if unit.kind == "cjk":
            atoms.append(_Atom("cjk", unit.text, index))
            continue
        words[index] = unit.text
        atoms.extend(
            _Atom("word", part, index) for part in word_parts(unit.text) if keep_token(part)
        )
    return atoms, words


class AliasMatcher:
    """Finds alias terms in a query; built from the `search_aliases` rows."""

    def __init__(self, rows: Iterable[tuple[str, int]]) -> None:
        self.groups: dict[int, list[_Member]] = {}
        self.by_first: dict[str, list[_Member]] = {}
        self.by_joined: dict[str, _Member] = {}
        self.cjk: list[_Member] = []
        for term, group_id in rows:
            alternatives = tuple(phrase_alternatives(term))
            if not alternatives:
                continue
            atoms, _ = _atoms(fold(term))
            latin = bool(atoms) and all(atom.kind == "word" for atom in atoms)
            member = _Member(
                term=term,
                group_id=group_id,
                atoms=tuple(atom.text for atom in atoms),
                joined=joined(fold(term)) if latin else None,
                alternatives=alternatives,
            )
            self.groups.setdefault(group_id, []).append(member)
            if len(atoms) == 1 and atoms[0].kind == "cjk":
                self.cjk.append(member)
            elif atoms:
                self.by_first.setdefault(atoms[0].text, []).append(member)
            if member.joined and keep_token(member.joined):
                self.by_joined.setdefault(member.joined, member)
        self.cjk.sort(key=lambda m: -len(m.atoms[0]))
        for members in self.by_first.values():
            members.sort(key=lambda m: (-len(m.atoms), -sum(map(len, m.atoms))))

    def group(self, member: _Member) -> Group:
        alternatives = [Alternative(tokens, 1.0, "term") for tokens in member.alternatives]
        seen = {alternative.tokens for alternative in alternatives}
        for other in self.groups.get(member.group_id, []):
            for tokens in other.alternatives:
                if tokens not in seen:
                    seen.add(tokens)
                    alternatives.append(Alternative(tokens, ALIAS_FACTOR, "alias"))
        return Group(member.term, alternatives)

    def split(
        self, atoms: list[_Atom], words: dict[int, str], compounds: bool = True
    ) -> tuple[list[Group], list[_Atom]]:
        """Alias groups found in the atoms (longest first), and the atoms left over."""
        found: list[Group] = []
        left: list[_Atom] = []
        queue = list(atoms)
        next_unit = max((atom.unit for atom in atoms), default=0) + 1
        i = 0
        while i < len(queue):
            atom = queue[i]
            if atom.kind == "cjk":
                exact = self._sequence(queue, i)
                if exact is not None and len(exact.atoms) > 1:
                    found.append(self.group(exact))
                    i += len(exact.atoms)
                    continue
                member = next((m for m in self.cjk if m.atoms[0] in atom.text), None)
                pieces = cjk_pieces(atom.text)
                if member is not None and any(ch in CJK_SPLIT_CHARS for ch in member.atoms[0]):
                    pieces = [atom.text]  # 基于人类反馈的强化学习 stays whole
                if pieces != [atom.text]:
                    queue[i : i + 1] = [_Atom("cjk", piece, atom.unit) for piece in pieces]
                    continue
                if member is None:
                    left.append(atom)
                    i += 1
                    continue
                before, _, after = atom.text.partition(member.atoms[0])
                glued = (before and before[-1] not in CJK_SPLIT_CHARS) or (
                    after and after[0] not in CJK_SPLIT_CHARS
                )
                if compounds and glued:
                    inner, rest = self.split([atom], words, compounds=False)
                    whole = tuple(dict.fromkeys(bigrams(atom.text)))
                    found.append(
                        Group(
                            atom.text,
                            [Alternative(whole, 1.0, "term")],
                            cjk_piece=atom.text,
                            split=inner + [g for a in rest for g in _cjk_groups(a.text)],
                        )
                    )
                    i += 1
                    continue
                found.append(self.group(member))
                before = before.rstrip("".join(CJK_SPLIT_CHARS))
                after = after.lstrip("".join(CJK_SPLIT_CHARS))
                if len(before) >= 2:
                    left.append(_Atom("cjk", before, next_unit))
                    next_unit += 1
                if after:
                    queue[i] = _Atom("cjk", after, next_unit)
                    next_unit += 1
                else:
                    i += 1
                continue
            first_of_word = i == 0 or queue[i - 1].unit != atom.unit
            compound = None
            if first_of_word and atom.unit in words:
                compound = self.by_joined.get(joined(words[atom.unit]))
            if compound is not None:
                found.append(self.group(compound))
                while i < len(queue) and queue[i].unit == atom.unit:
                    i += 1
                continue
            exact = self._sequence(queue, i)
            if exact is not None:
                found.append(self.group(exact))
                i += len(exact.atoms)
                continue
            left.append(atom)
            i += 1
        return found, left

    def _sequence(self, atoms: list[_Atom], i: int) -> _Member | None:
        for member in self.by_first.get(atoms[i].text, []):
            size = len(member.atoms)
            if tuple(atom.text for atom in atoms[i : i + size]) == member.atoms:
                return member
        return None


# --- queries -------------------------------------------------------------------------


def _cjk_groups(run: str) -> list[Group]:
    return [
        Group(
            piece,
            [Alternative(tuple(dict.fromkeys(bigrams(piece))), 1.0, "term")],
            cjk_piece=piece if len(piece) >= 3 else None,
        )
        for piece in cjk_pieces(run)
    ]


def parse_query(query: str, aliases: AliasMatcher | None = None) -> list[Group]:
    """The groups of a free-text query (before typo correction, which needs the index)."""
    text = fold(clean_input(query)[:MAX_QUERY_CHARS])
    ids, rest = extract_arxiv_ids(text)
    groups = [
        Group(arxiv_id, [Alternative((arxiv_token(arxiv_id),), 1.0, "term")])
        for arxiv_id in dict.fromkeys(ids)
    ]
    atoms, words = _atoms(rest)
    found, left = (aliases or AliasMatcher([])).split(atoms, words)
    groups.extend(found)
    whole_units = {
        unit
        for unit, word in words.items()
        if sum(a.unit == unit for a in left) == len([p for p in word_parts(word) if keep_token(p)])
    }
    done: set[int] = set()
    for atom in left:
        if atom.kind == "cjk":
            groups.extend(_cjk_groups(atom.text))
        elif atom.unit in whole_units:
            if atom.unit in done:
                continue
            done.add(atom.unit)
            word = words[atom.unit]
            alternatives = phrase_alternatives(word)
            group = Group(
                word,
                [
                    Alternative(tokens, 1.0, "term")
                    if n == 0
                    else Alternative(tokens, PARTS_FACTOR, "parts")
                    for n, tokens in enumerate(alternatives)
                ],
            )
            if len(alternatives) == 1 and len(alternatives[0]) == 1:
                token = alternatives[0][0]
                if token.isascii() and token.isalpha() and len(token) >= 4:
                    group.typo_word = token
            groups.append(group)
        else:
            groups.append(Group(atom.text, [Alternative((atom.text,), 1.0, "term")]))
    unique: list[Group] = []
    seen: set[tuple[tuple[str, ...], ...]] = set()
    for group in groups:
        signature = tuple(sorted(alternative.tokens for alternative in group.alternatives))
        if group.alternatives and signature not in seen:
            seen.add(signature)
            unique.append(group)
    return unique[:MAX_GROUPS]


def edits1(word: str) -> set[str]:
    """Every string one insertion, deletion, substitution or transposition away."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return (deletes | transposes | replaces | inserts) - {word}


def _relaxed(groups: list[Group]) -> list[Group] | None:
    """Long Chinese pieces split into their aliases and bigrams, for a second try."""
    if not any(group.cjk_piece for group in groups):
        return None

    def relax(group: Group) -> list[Group]:
        if group.split is not None:
            return [part for piece in group.split for part in relax(piece)]
        if group.cjk_piece:
            return [
                Group(pair, [Alternative((pair,), 1.0, "term")])
                for pair in dict.fromkeys(bigrams(group.cjk_piece))
            ]
        return [group.copy()]

    return [part for group in groups for part in relax(group)][: MAX_GROUPS * 2]


class Ranker:
    """Ranks review ids for parsed groups against one connection's index."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store

    def rank(self, groups: list[Group], needed: int, min_share: float = 0.0) -> list[int]:
        docs = max(self.store.state().get("docs", 0), 1)
        groups = [group.copy() for group in groups]
        leaves = [leaf for group in groups for leaf in (group, *(group.split or ()))]
        tokens = sorted({t for g in leaves for a in g.alternatives for t in a.tokens})
        df = self.store.dfs(tokens)
        self._correct_typos(leaves, df)
        for leaf in leaves:
            leaf.alternatives = [
                a for a in leaf.alternatives if all(df.get(t, 0) > 0 for t in a.tokens)
            ]
        live = [
            group
            for group in groups
            if group.alternatives or (group.split and all(p.alternatives for p in group.split))
        ]
        if not live:
            return []
        min_matched = 1
        if min_share:
            min_matched = max(2 if len(groups) >= 2 else 1, math.ceil(min_share * len(groups)))
        leaves = [leaf for group in live for leaf in (group, *(group.split or ()))]

        head_tokens = sorted({t for g in leaves for a in g.alternatives for t in a.tokens})
        by_token: dict[str, dict[int, int]] = {t: {} for t in head_tokens}
        for term, review_id, weight in self.store.head_postings(head_tokens, HEAD_K):
            by_token[term][review_id] = weight
        head = {id(leaf): self._head(leaf, by_token) for leaf in leaves}

        body: dict[int, dict[int, float]] = {id(leaf): {} for leaf in leaves}
        rare: list[tuple[Group, Alternative]] = []
        common: list[tuple[Group, Alternative]] = []
        for leaf in leaves:
            for alternative in leaf.alternatives:
                estimate = min(df[t] for t in alternative.tokens)
                (rare if estimate <= BODY_SCAN_MAX_DF else common).append((leaf, alternative))
        self._body(rare, body, floor=None)
        idf = [self._idf(group, df, docs) for group in live]
        ranked = self._score(live, idf, head, body, len(groups), min_matched)
        if len(ranked) < needed and common:
            floor = self.store.newest_floor(BODY_WINDOW)
            self._body(common, body, floor=floor, limit=needed)
            ranked = self._score(live, idf, head, body, len(groups), min_matched)
        return ranked[:MAX_RESULTS]

    @staticmethod
    def _head(group: Group, by_token: dict[str, dict[int, int]]) -> dict[int, float]:
        """Best head weight per review: an alternative counts where all its tokens are."""
        scores: dict[int, float] = {}
        for alternative in group.alternatives:
            lists = sorted((by_token[t] for t in alternative.tokens), key=len)
            first, rest = lists[0], lists[1:]
            for review_id, weight in first.items():
                worst = weight
                for other in rest:
                    found = other.get(review_id)
                    if found is None:
                        break
                    worst = min(worst, found)
                else:
                    value = alternative.factor * worst / 10
                    if value > scores.get(review_id, 0.0):
                        scores[review_id] = value
        return scores

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
            h, b = head[id(leaf)], body[id(leaf)]
            values = {}
            for review_id in h.keys() | b.keys():
                x, y = h.get(review_id, 0.0), b.get(review_id, 0.0)
                values[review_id] = max(x, y) + 0.25 * min(x, y)
            return values

        values = leaf_values(group)
        if group.split:
            parts = [leaf_values(part) for part in group.split]
            for review_id in set.intersection(*(set(part) for part in parts)):
                mean = sum(part[review_id] for part in parts) / len(parts)
                values[review_id] = max(values.get(review_id, 0.0), mean)
        return values

    def _score(
        self,
        live: list[Group],
        idf: list[float],
        head: dict[int, dict[int, float]],
        body: dict[int, dict[int, float]],
        groups: int,
        min_matched: int,
    ) -> list[int]:
        totals: dict[int, float] = {}
        matched: dict[int, int] = {}
        for weight, group in zip(idf, live, strict=True):
            for review_id, value in self._values(group, head, body).items():
                totals[review_id] = totals.get(review_id, 0.0) + weight * value
                matched[review_id] = matched.get(review_id, 0) + 1
        scored = [
            (total * matched[review_id] / groups, review_id)
            for review_id, total in totals.items()
            if matched[review_id] >= min_matched
        ]
        scored.sort(key=lambda pair: (-pair[0], -pair[1]))
        return [review_id for _, review_id in scored]

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

    def _correct_typos(self, groups: list[Group], df: dict[str, int]) -> None:
        suspects = [g for g in groups if g.typo_word and df.get(g.typo_word, 0) <= TYPO_MAX_DF][
            :MAX_TYPO_WORDS
        ]
        if not suspects:
            return
        candidates = {g.typo_word: edits1(g.typo_word) for g in suspects if g.typo_word}
        known = self.store.dfs(sorted(set().union(*candidates.values())))
        for group in suspects:
            word = group.typo_word
            assert word is not None
            floor = max(3 * df.get(word, 0), 1)
            fixes = sorted(
                (c for c in candidates[word] if known.get(c, 0) >= floor),
                key=lambda c: (-known[c], c),
            )[:2]
            for fix in fixes:
                factor = TYPO_FACTOR if df.get(word, 0) == 0 else TYPO_FACTOR_KNOWN
                group.alternatives.append(Alternative((fix,), factor, "typo"))
                df[fix] = known[fix]


class SearchService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._matcher: tuple[tuple[tuple[str, int], ...], AliasMatcher] | None = None
        self._aliases_fresh_until = 0.0

    def search(self, query: str, limit: int = 5, offset: int = 0) -> SearchPage:
        limit = max(1, min(int(limit), 50))
        offset = max(0, int(offset))
        with self.sessions() as session:
            store = IndexStore(session.connection())
            groups = parse_query(query, self._aliases(session))
            if not groups or offset >= MAX_RESULTS:
                return SearchPage(query, (), offset, 0)
            ranker = Ranker(store)
            needed = offset + limit + 1
            ranked = ranker.rank(groups, needed)
            if not ranked:
                relaxed = _relaxed(groups)
                if relaxed:
                    ranked = ranker.rank(relaxed, needed, min_share=RELAXED_SHARE)
            window = ranked[offset : offset + limit]
            rows = session.scalars(
                select(Review).where(Review.id.in_(window), Review.status == "published")
            ).all()
            by_id = {row.id: ReviewView.of(row) for row in rows}
            items = tuple(by_id[review_id] for review_id in window if review_id in by_id)
        return SearchPage(query, items, offset, len(ranked))

    # aliases

    def _aliases(self, session: Session) -> AliasMatcher:
        """The alias table, read again at most every ALIAS_CACHE_SECONDS: reading it for
        every search cost an eighth of a reply. Changes made through this service are
        seen at once, those of another process (the CLI) within that time."""
        now = time.monotonic()
        if self._matcher is not None and now < self._aliases_fresh_until:
            return self._matcher[1]
        rows = tuple(
            (term, group_id)
            for term, group_id in session.execute(
                select(SearchAlias.term, SearchAlias.group_id).order_by(SearchAlias.id)
            )
        )
        if self._matcher is None or self._matcher[0] != rows:
            self._matcher = (rows, AliasMatcher(rows))
        self._aliases_fresh_until = now + ALIAS_CACHE_SECONDS
        return self._matcher[1]

    def list_aliases(self) -> list[list[str]]:
        """Alias groups in the order they were made, each as its terms."""
        with self.sessions() as session:
            rows = session.execute(
                select(SearchAlias.group_id, SearchAlias.term).order_by(
                    SearchAlias.group_id, SearchAlias.id
                )
            ).all()
        groups: dict[int, list[str]] = {}
        for group_id, term in rows:
            groups.setdefault(group_id, []).append(term)
        return list(groups.values())

    def add_aliases(self, term: str, synonyms: Sequence[str]) -> list[str]:
        """Put TERM and SYNONYMS in one alias group (joining groups they are already in)."""
        terms = [" ".join(t.split()) for t in (term, *synonyms)]
        for value in terms:
            if not value or len(value) > 100:
                raise ValueError(f"an alias must be 1 to 100 characters: {value!r}")
            if not phrase_alternatives(value):
                raise ValueError(f"{value!r} has no searchable word (a single 汉字 is too short)")
        wanted = {alias_key(value): value for value in terms}
        if len(wanted) < 2:
            raise ValueError("give at least one synonym that differs from the term")
        self._aliases_fresh_until = 0.0  # the next search reads the table again
        with self.sessions.begin() as session:
            existing = session.scalars(
                select(SearchAlias).where(SearchAlias.key.in_(list(wanted)))
            ).all()
            group_ids = sorted({row.group_id for row in existing})
            if group_ids:
                target = group_ids[0]
                for row in session.scalars(
                    select(SearchAlias).where(SearchAlias.group_id.in_(group_ids[1:]))
                ):
                    row.group_id = target
            else:
                target = (session.scalar(select(func.max(SearchAlias.group_id))) or 0) + 1
            known = {row.key for row in existing}
            for key, value in wanted.items():
                if key not in known:
                    session.add(SearchAlias(term=value, key=key, group_id=target))
            session.flush()
            return list(
                session.scalars(
                    select(SearchAlias.term)
                    .where(SearchAlias.group_id == target)
                    .order_by(SearchAlias.id)
                )
            )

    def remove_alias(self, term: str) -> list[str] | None:
        """Take TERM out of its group; returns what the group keeps (None: no such alias).

        A group left with a single term is removed too.
        """
        self._aliases_fresh_until = 0.0  # the next search reads the table again
        with self.sessions.begin() as session:
            row = session.scalar(select(SearchAlias).where(SearchAlias.key == alias_key(term)))
            if row is None:
                return None
            group_id = row.group_id
            session.delete(row)
            session.flush()
            rest = list(
                session.scalars(
                    select(SearchAlias.term)
                    .where(SearchAlias.group_id == group_id)
                    .order_by(SearchAlias.id)
                )
            )
            if len(rest) < 2:
                session.execute(delete(SearchAlias).where(SearchAlias.group_id == group_id))
                return []
            return rest
