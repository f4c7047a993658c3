"""Alias matching: which alias terms a query holds, longest first, and the groups they
become (every spelling of the alias group is an alternative)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.search.groups import ALIAS_FACTOR, Alternative, Group
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


def phrase_alternatives(text: str) -> list[tuple[str, ...]]:
    """Alternatives for a phrase: the compound as one token (GPT-3 → gpt3, and a phrase
    of Latin words as the compound it may be written as), and the conjunction of all
    its parts and bigrams."""
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
    elif len(pieces) > 1 and not ids and all(unit.kind == "word" for unit in pieces):
        # "chain of thought" is also the compound Chain-of-Thought (chainofthought).
        whole = joined("".join(unit.text for unit in pieces))
        if keep_token(whole):
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
        #: Chinese alias terms that hold a function character (基于人类反馈的强化学习):
        #: the query's filler removal must leave them whole.
        self.protected = tuple(m.atoms[0] for m in self.cjk if set(m.atoms[0]) & CJK_SPLIT_CHARS)
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
            exact = self._sequence(queue, i)
            # A longer alias wins over the word alone: "chain of thought" over "chain".
            in_word = sum(1 for other in queue[i:] if other.unit == atom.unit)
            if compound is not None and (exact is None or len(exact.atoms) <= in_word):
                found.append(self.group(compound))
                while i < len(queue) and queue[i].unit == atom.unit:
                    i += 1
                continue
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


def _cjk_groups(run: str) -> list[Group]:
    return [
        Group(
            piece,
            [Alternative(tuple(dict.fromkeys(bigrams(piece))), 1.0, "term")],
            cjk_piece=piece if len(piece) >= 3 else None,
        )
        for piece in cjk_pieces(run)
    ]
