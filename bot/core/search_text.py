"""Text to search terms: the one tokenizer that both indexing and querying use.

Everything here is pure Python and backend-independent, so SQLite and PostgreSQL index
and look up exactly the same terms; the databases only ever see finished tokens.

* Text is NFKC-normalized (full-width ＲＬＨＦ becomes rlhf), case-folded, and stripped of
  diacritics; control characters, emoji and punctuation separate tokens and are dropped.
* Han and kana runs become overlapping two-character tokens (bigrams): 对齐方法 gives
  对齐 齐方 方法, so the two-character word 对齐 finds it. A longer query word is the
  conjunction of its bigrams, which in practice behaves like a phrase.
* Latin (and other alphabetic) words are lower-cased and crudely singularized
  (transformers → transformer). A compound such as GPT-3, FlashAttention or
  chain-of-thought is indexed whole (gpt3, flashattention, chainofthought) and as its
  parts, so `gpt 3`, `flash attention` and `chain of thought` find it too.
* arXiv ids (bare, `arXiv:` labels or URLs, with or without a version) become a single
  token of digits, so `2312.00752v2` and `https://arxiv.org/abs/2312.00752` are the same.

Every token consists of Unicode letters and digits only (categories L* and N*): those
are token characters for SQLite's unicode61 tokenizer, and need no quoting beyond simple
quotes in a PostgreSQL tsquery, which is what makes hostile input harmless.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

#: Longest token kept; longer "words" (a pasted hash, 10,000 x's) are not words.
MAX_TOKEN_CHARS = 40

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z.-]*/\d{7}"
_ARXIV = re.compile(
    rf"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<url>{_NEW_ID}|{_OLD_ID})"
    rf"(?:v\d+)?(?:\.pdf)?/?"
    rf"|arxiv\s*[:：]\s*(?P<label>{_NEW_ID}|{_OLD_ID})(?:v\d+)?"
    rf"|(?<![\w.])(?P<bare>{_NEW_ID})(?:v\d+)?(?![\w.])",
    re.IGNORECASE,
)
_UNIT = re.compile(
    rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+(?:['’.+-][^\W_{_CJK}]+)*)",
)
#: A Han/kana run.
CJK_RUN = re.compile(rf"[{_CJK}]+")
_PART_SEPARATOR = re.compile(r"['’.+-]")
_LETTERS_DIGITS = re.compile(r"\d+|[^\W\d_]+")
_CAMEL = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[^\W\d_]+")

#: English words too common to say anything; never indexed, dropped from queries.
STOPWORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have"),
        *("how", "in", "into", "is", "it", "its", "of", "on", "or", "not", "our", "that"),
        *("the", "their", "this", "to", "via", "vs", "was", "we", "were", "what", "which"),
        "with",
    }
)
#: Chinese function characters a query may be split at ("大模型的对齐方法"), but only
#: where both sides keep two characters, so 目的 or 参与 stay whole.
CJK_SPLIT_CHARS = frozenset("的地得了和与及或是在")


#: After NFKC, text made only of these has nothing to decompose (no diacritics to drop).
_NOTHING_TO_DECOMPOSE = re.compile(
    r"[\x00-\xbf\u2000-\u206f\u3000-\u3029\u3030-\u303f\u3400-\u4dbf\u4e00-\u9fff]*"
)


def fold(text: str) -> str:
    """NFKC, no diacritics, case kept (camelCase is still visible)."""
    text = unicodedata.normalize("NFKC", text)
    if _NOTHING_TO_DECOMPOSE.fullmatch(text):
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", stripped)


def singular(word: str) -> str:
    """A crude English singular; it only has to be the same at index and query time."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def arxiv_token(arxiv_id: str) -> str:
    """The single token an arXiv id is indexed as: 2312.00752 → 231200752."""
    return "".join(ch for ch in arxiv_id.lower() if ch.isalnum())


def bigrams(run: str) -> list[str]:
    """Overlapping two-character pieces of a Han/kana run (none for one character)."""
    return [run[i : i + 2] for i in range(len(run) - 1)]


def keep_token(token: str) -> bool:
    """Whether a token is worth indexing: not a stopword, a single letter or a monster."""
    if not token or len(token) > MAX_TOKEN_CHARS or token in STOPWORDS:
        return False
    return len(token) > 1 or token.isdigit()


def _piece_parts(piece: str) -> list[str]:
    parts: list[str] = []
    for chunk in _LETTERS_DIGITS.findall(piece):
        if chunk.isdigit():
            parts.append(chunk)
            continue
        camel = _CAMEL.findall(chunk)
        # Split camelCase only into real words (FlashAttention, ChatGPT), not LLaMA.
        if len(camel) > 1 and all(len(c) >= 3 for c in camel):
            parts.extend(singular(c.casefold()) for c in camel)
        else:
            parts.append(singular(chunk.casefold()))
    return parts


def word_parts(word: str) -> list[str]:
    """The lower-cased, singular parts of a (possibly compound) word, stopwords kept."""
    return [part for piece in _PART_SEPARATOR.split(word) for part in _piece_parts(piece)]


def joined(word: str) -> str:
    """A compound written as one token: GPT-3 → gpt3, Chain-of-Thought → chainofthought."""
    return singular("".join(ch for ch in word.casefold() if ch.isalnum()))


@dataclass(frozen=True)
class Unit:
    """A piece of text: a Han/kana run ("cjk") or a Latin-like word ("word")."""

    kind: str
    text: str


def units(text: str) -> Iterator[Unit]:
    for match in _UNIT.finditer(text):
        if match.group("cjk"):
            yield Unit("cjk", match.group("cjk"))
        else:
            yield Unit("word", match.group("word"))


def word_spans(text: str) -> list[tuple[int, int]]:
    """Where the Latin-like words of a text are."""
    return [match.span() for match in _UNIT.finditer(text) if match.group("word")]


def extract_arxiv_ids(text: str) -> tuple[list[str], str]:
    """The arXiv ids in `text` (without versions) and the text with them cut out."""
    found: list[str] = []

    def cut(match: re.Match[str]) -> str:
        value = match.group("url") or match.group("label") or match.group("bare")
        found.append(value.lower())
        return " "

    return found, _ARXIV.sub(cut, text)


#: How much a part of a compound (attention in PagedAttention) weighs in a head field,
#: next to the same word standing alone.
PART_WEIGHT = 0.7


def weighted_word_tokens(word: str) -> list[tuple[str, float]]:
    """Index tokens of one word with their weight: its parts (at PART_WEIGHT if the
    word is a compound), and each compound piece and the word whole."""
    tokens: list[tuple[str, float]] = []
    pieces = [piece for piece in _PART_SEPARATOR.split(word) if piece]
    compound = len(pieces) > 1 or any(len(_piece_parts(piece)) > 1 for piece in pieces)
    for piece in pieces:
        parts = _piece_parts(piece)
        tokens.extend((part, PART_WEIGHT if compound else 1.0) for part in parts)
        if len(parts) > 1:
            tokens.append((joined(piece), 1.0))
    if len(pieces) > 1:
        tokens.append((joined(word), 1.0))
    return [(token, weight) for token, weight in tokens if keep_token(token)]


def word_tokens(word: str) -> list[str]:
    """Index tokens of one word: its parts, and each compound piece and the word whole."""
    return [token for token, _ in weighted_word_tokens(word)]


def weighted_tokens(text: str) -> list[tuple[str, float]]:
    """Index tokens of free text, in order, with repeats, each with its weight."""
    if not text:
        return []
    ids, rest = extract_arxiv_ids(fold(text))
    tokens = [(arxiv_token(i), 1.0) for i in ids]
    for unit in units(rest):
        if unit.kind == "cjk":
            tokens.extend((pair, 1.0) for pair in bigrams(unit.text))
        else:
            tokens.extend(weighted_word_tokens(unit.text))
    tokens.extend((token, 1.0) for token in glued_tokens(rest))
    return tokens


def glued_tokens(text: str) -> list[str]:
    """Adjacency tokens of a folded text: a Latin word written against a Han run, with
    the run's two characters next to it (AI反馈 → ai反馈, 宪法AI → 宪法ai). They let
    `AI反馈` prefer the review that says AI反馈 over one with "Meta AI" somewhere."""
    found: list[str] = []
    previous: re.Match[str] | None = None
    for match in _UNIT.finditer(text):
        if previous is not None and previous.end() == match.start():
            before, after = previous.group(), match.group()
            if previous.group("word") and match.group("cjk") and len(after) >= 2:
                token = joined(before) + after[:2]
                latin = joined(before)
            elif previous.group("cjk") and match.group("word") and len(before) >= 2:
                token = before[-2:] + joined(after)
                latin = joined(after)
            else:
                token = latin = ""
            if latin and keep_token(latin) and keep_token(token):
                found.append(token)
        previous = match
    return found


def text_tokens(text: str) -> list[str]:
    """Index tokens of free text, in order, with repeats."""
    return [token for token, _ in weighted_tokens(text)]


def cjk_pieces(run: str) -> list[str]:
    """A query's Han run, split at function characters where both sides stay words."""
    pieces: list[str] = []
    start = 0
    for i, ch in enumerate(run):
        if ch in CJK_SPLIT_CHARS and i - start >= 2 and len(run) - i - 1 >= 2:
            pieces.append(run[start:i])
            start = i + 1
    pieces.append(run[start:])
    return [piece for piece in pieces if len(piece) >= 2]
