"""The query parser: free text to groups, and the relaxed second try.

Han runs are segmented (`segment`): question and filler words go, the content words
between them stay together as pieces. English question words go too. A query made of
nothing but such words asks for nothing and finds nothing.
"""

from __future__ import annotations

from bot.core.conversation import clean_input
from bot.core.search.groups import PARTS_FACTOR, Alternative, Group
from bot.core.search.matching import AliasMatcher, _Atom, _atoms, _cjk_groups, phrase_alternatives
from bot.core.search.phrases import phrase_words
from bot.core.search.segment import LATIN_FILLERS, content_pieces, content_words
from bot.core.search_text import (
    CJK_RUN,
    arxiv_token,
    extract_arxiv_ids,
    fold,
    glued_tokens,
    joined,
    keep_token,
    units,
    word_parts,
    word_spans,
)

MAX_QUERY_CHARS = 200
MAX_GROUPS = 12


def without_fillers(text: str, protected: tuple[str, ...] = ()) -> str:
    """The query's content: filler words dropped, the rest as written.

    Where a filler sat between two content words there is now a space; content written
    together (AI反馈) stays together, so that its adjacency still counts.
    """
    out: list[str] = []
    last = 0
    for match in CJK_RUN.finditer(text):
        out.append(text[last : match.start()])
        run = match.group()
        pieces = content_pieces(run, protected)
        kept = " ".join(pieces)
        if pieces and not run.startswith(pieces[0]):
            kept = " " + kept
        if not pieces or not run.endswith(pieces[-1]):
            kept += " "
        out.append(kept)
        last = match.end()
    out.append(text[last:])
    cleaned = "".join(out)
    content = [
        unit
        for unit in units(cleaned)
        if unit.kind == "cjk" or joined(unit.text) not in LATIN_FILLERS
    ]
    if not content:
        return cleaned
    # English fillers go unless they are all there is ("what is" stays a query).
    result: list[str] = []
    last = 0
    for start, end in word_spans(cleaned):
        word = cleaned[start:end]
        result.append(cleaned[last:start])
        result.append(" " if joined(word) in LATIN_FILLERS else word)
        last = end
    result.append(cleaned[last:])
    return "".join(result)


def parse_query(query: str, aliases: AliasMatcher | None = None) -> list[Group]:
    """The groups of a free-text query (before typo correction, which needs the index)."""
    matcher = aliases or AliasMatcher([])
    ids, rest = _content(query, matcher)
    groups = [
        Group(arxiv_id, [Alternative((arxiv_token(arxiv_id),), 1.0, "term")])
        for arxiv_id in dict.fromkeys(ids)
    ]
    if not rest.strip() and not groups:
        return []
    atoms, words = _atoms(rest)
    found, left = matcher.split(atoms, words)
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
            groups.append(_word_group(words[atom.unit]))
        else:
            groups.append(Group(atom.text, [Alternative((atom.text,), 1.0, "term")]))
    unique: list[Group] = []
    seen: set[tuple[tuple[str, ...], ...]] = set()
    for group in groups:
        signature = tuple(sorted(alternative.tokens for alternative in group.alternatives))
        if group.alternatives and signature not in seen:
            seen.add(signature)
            unique.append(group)
    unique = unique[:MAX_GROUPS]
    if len(unique) >= 2:
        unique.extend(
            Group(token, [Alternative((token,), 1.0, "term")], bonus=True)
            for token in dict.fromkeys(glued_tokens(rest))
        )
    return unique


def query_phrase(query: str, aliases: AliasMatcher | None = None) -> tuple[str, ...]:
    """The query's content words in order, for the phrase bonus (`phrases`)."""
    _, rest = _content(query, aliases or AliasMatcher([]))
    return phrase_words(rest)


def normalised(query: str) -> str:
    """The query as the parser reads it (cleaned, cut, folded): two queries with the
    same normalised text have the same groups and phrase, so the same results."""
    return fold(clean_input(query)[:MAX_QUERY_CHARS])


def _content(query: str, matcher: AliasMatcher) -> tuple[list[str], str]:
    """The arXiv ids of a query, and the rest of it without filler words."""
    ids, rest = extract_arxiv_ids(normalised(query))
    return ids, without_fillers(rest, matcher.protected)


def _word_group(word: str) -> Group:
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
    return group


def relaxed(groups: list[Group], aliases: AliasMatcher | None = None) -> list[Group] | None:
    """Long Chinese pieces split into their words (and the aliases among them), for a
    second try in which at least half of them must match. Filler words are already
    gone, so they never count towards that half."""
    if not any(group.cjk_piece for group in groups if not group.bonus):
        return None
    matcher = aliases or AliasMatcher([])

    def relax(group: Group) -> list[Group]:
        if group.split is not None:
            return [part for piece in group.split for part in relax(piece)]
        if group.cjk_piece:
            parts: list[Group] = []
            for word in content_words(group.cjk_piece):
                found, left = matcher.split([_Atom("cjk", word, 0)], {})
                parts.extend(found)
                parts.extend(part for atom in left for part in _cjk_groups(atom.text))
            return parts
        return [group.copy()]

    out: list[Group] = []
    seen: set[tuple[tuple[str, ...], ...]] = set()
    for group in groups:
        for part in relax(group):
            signature = tuple(sorted(alternative.tokens for alternative in part.alternatives))
            if signature not in seen:
                seen.add(signature)
                out.append(part)
    return out[: MAX_GROUPS * 2]
