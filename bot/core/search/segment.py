"""Chinese word segmentation of queries (jieba), and the words that carry no query.

Readers type the way they talk: 有没有讲推理加速的论文, 哪篇讲位置编码, 什么是思维链.
jieba cuts a Han run into words; question and filler words (有没有, 讲, 哪篇, 什么是,
论文, 解读, …) and particles (的, 了, 吗) are dropped, and the content words left
between them stay together as the pieces of the query (推理加速, 位置编码, 思维链).

Only queries are segmented. The index keeps its two-character pieces, which every
segmentation of a query can be looked up in (a word is the AND of its bigrams), so
SQLite and PostgreSQL index exactly the same tokens as before, and indexing stays as
fast as it was (jieba cuts about 200,000 characters a second here, which would add
minutes to indexing 100,000 reviews).

jieba's dictionary takes about a second to load: it is loaded once per process, at
the first query that needs it (or at start-up through `warm_up`), never per query.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

#: Question and filler words: they never carry a query. A query made only of them finds
#: nothing; elsewhere they are dropped, so they count neither in the ranking nor in the
#: relaxed retry's quorum.
CJK_FILLERS = frozenset(
    {
        # asking
        *("有没有", "有没", "有无", "是否有", "有哪些", "有什么", "哪些", "哪篇", "哪一篇"),
        *("哪个", "哪一个", "哪种", "什么", "什么是", "是什么", "啥", "怎么", "怎样", "怎么样"),
        *("如何", "为什么", "为何", "能否", "能不能", "可以", "可不可以", "请问", "请", "求"),
        *("是不是", "多少", "哪里", "哪儿", "吗", "呢", "吧", "啊", "呀", "么"),
        # the column's own words
        *("论文", "文章", "解读", "解析", "讲解", "介绍", "综述", "这篇", "那篇", "一篇"),
        *("篇", "篇文章", "几篇", "这", "那", "哪", "推荐", "相关", "有关", "关于", "方面"),
        *("提到", "提出", "提出了"),
        # verbs and particles of asking
        *("讲", "讲的", "讲讲", "说", "谈", "聊聊", "讨论", "涉及", "想", "想看", "看看"),
        *("找", "找找", "一下", "一些", "我", "我们", "你", "有", "是", "的", "了", "做"),
        *("用", "在", "和", "与", "及", "或", "把", "被", "给", "让", "个", "些"),
        *("不用", "不需要", "无需", "没有", "不"),
    }
)
#: English question and filler words (beyond the index's stopwords), dropped likewise.
LATIN_FILLERS = frozenset(
    {
        *("paper", "papers", "article", "articles", "review", "reviews", "any", "there"),
        *("about", "introduced", "introduce", "introduces", "proposed", "propose", "explain"),
        *("explained", "do", "does", "did", "why", "who", "where", "when", "tell", "me"),
        *("show", "find", "i", "want", "looking", "please", "can", "could", "without"),
        *("some", "something", "anything", "one", "ones", "was", "is", "are", "what", "which"),
        *("how", "to", "a", "an", "the", "on", "of", "in", "for", "with"),
    }
)

_LOCK = threading.Lock()
_TOKENIZER: list[Any] = []


def _tokenizer() -> Any:
    if not _TOKENIZER:
        with _LOCK:
            if not _TOKENIZER:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _TOKENIZER.append(tokenizer)
    return _TOKENIZER[0]


def warm_up() -> None:
    """Load jieba's dictionary now (start-up), not in the first reader's search."""
    _tokenizer()


@lru_cache(maxsize=4096)
def words(run: str) -> tuple[str, ...]:
    """jieba's words of a Han run (dictionary only, no HMM guessing: the same cut for
    the same text, whatever was cut before)."""
    return tuple(_tokenizer().lcut(run, HMM=False))


def content_pieces(run: str, protected: tuple[str, ...] = ()) -> list[str]:
    """The content of a Han run: runs of non-filler words, in order.

    `protected` terms (aliases such as 基于人类反馈的强化学习, which hold a filler
    character) are kept whole, as pieces of their own.
    """
    for term in protected:
        at = run.find(term)
        if at >= 0:
            before, after = run[:at], run[at + len(term) :]
            return [
                *content_pieces(before, protected),
                term,
                *content_pieces(after, protected),
            ]
    pieces: list[str] = []
    current = ""
    for word in words(run):
        if word in CJK_FILLERS:
            if current:
                pieces.append(current)
            current = ""
        else:
            current += word
    if current:
        pieces.append(current)
    return pieces


def content_words(piece: str) -> list[str]:
    """A piece's words for the relaxed retry: jieba's words of two or more characters;
    a piece jieba does not know as words (single characters) stays whole."""
    found = [word for word in words(piece) if len(word) >= 2 and word not in CJK_FILLERS]
    return found or [piece]
