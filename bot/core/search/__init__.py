"""Keyword search over published reviews, Chinese and English, on SQLite and PostgreSQL.

The package, one module per concern: `segment` (jieba, filler words), `groups` (what a
parsed query is), `matching` (alias matching), `query` (the parser and the relaxed
retry), `typos`, `ranker`, `phrases` (the phrase bonus), `aliases` (alias storage and
defaults) and `service` (the use case). The tokenizer and the index are
`bot.core.search_text` and `bot.core.search_index`.

How a query runs
----------------
1. The query is cleaned and cut to MAX_QUERY_CHARS. Han runs are cut into words by
   jieba (`segment`); question and filler words (有没有, 讲, 哪篇, 什么是, 论文, 解读, …)
   and particles (的, 了, 吗) are dropped, as are English ones (which, paper, about, …)
   next to content words; a query of nothing else asks for nothing. What is left is
   split into *groups*, one per thing the reader asked about: an arXiv id, a word, a
   Chinese piece (the content words between two fillers, 推理加速), or an alias. A
   group has *alternatives*, each a conjunction of tokens: a Chinese piece is the AND of
   its bigrams; GPT-3 is `gpt3` or `gpt AND 3`; an alias group (RLHF ⇄ 人类反馈强化学习,
   from the `search_aliases` table) adds the other spellings; a Latin word that
   (almost) no review contains adds its closest vocabulary terms, one edit away
   (mamaba → mamba), unless the rest of the query finds nothing or both are English
   dictionary words (`typos`). A Latin word written against Han text (AI反馈) adds an
   adjacency bonus group.
2. Head hits (arXiv id, title, tags, authors, summary, and body terms said at least
   three times) come from `search_postings`, whose primary key (term, weight,
   review_id) returns a term's best reviews first: one short index range read per
   token, LIMIT HEAD_K, however common the term. A weight is the term's per-field
   BM25-style saturated frequency times the field's weight (ident 20 > title 10 >
   tags 9 > authors 8 > summary 4 > body 1.5), best field plus 0.2 of the others, with
   one bit saying the title or tags carry it.
3. Body hits come from SQLite FTS5 or a PostgreSQL GIN index over the same tokens,
   newest first, LIMIT BODY_K. Terms in more than BODY_SCAN_MAX_DF reviews do not drive
   a body scan (that is what would make 模型 or "language" scan everything); they
   still rank through the head, and are looked up among the newest BODY_WINDOW reviews
   only when the head and rarer terms found too little.
4. Scoring is done in Python (`ranker`), identically for both backends: for each group
   the value of its best alternative (a word only part of a compound x0.7, compound
   parts matched separately x0.9, aliases x0.8, typo fixes x0.7) plus 0.15 of every
   other spelling the review also uses, times the group's idf, summed over groups, plus
   the adjacency bonuses, times the share of groups matched. The first PHRASE_K (20)
   reviews then get the phrase bonus (`phrases`): for every two content words of the
   query that a review writes next to each other, in the query's order (low rank
   adaptation, chain of thought, AI反馈), the weight of the best field they stand
   together in (title > tags > summary > body), from the stored text, and are ordered
   again. Bonuses only raise scores, so nothing after PHRASE_K could have overtaken
   them; the cost is one read and a few regex searches over 20 reviews (title, tags,
   summary, the body's first 2,000 characters), whatever the index's size. A query most
   of whose groups no review contains at all finds nothing. Equal scores go to the review whose
   title or tags carry more of the query, then to the one added later. A Chinese
   compound holding an alias (幽灵注意力) matches as written or where all its parts
   (幽灵, 注意力 or an alias of it) match, in whatever fields.
5. A query that finds nothing as written (对齐效果好) is retried with its Chinese pieces
   split into jieba words and their aliases, of which at least half must match (the
   filler words are gone, so they never count towards that half).

Why an index of our own plus the engines' full-text indexes, and not bm25()/ts_rank():
SQLite's bm25 and PostgreSQL's ts_rank rank differently, and both must score every
match before a LIMIT applies, which at 100,000 reviews makes common terms slow. The
engines here only answer "which reviews contain these tokens" over tokens made in
Python, so both backends return the same reviews in the same order (a test checks
this), and every query reads a bounded number of index entries.

At most MAX_RESULTS results are ranked; a query matching more says MAX_RESULTS.
"""

from bot.core.search.aliases import alias_key, ensure_default_aliases
from bot.core.search.groups import Alternative, Group
from bot.core.search.matching import AliasMatcher, phrase_alternatives
from bot.core.search.query import parse_query, relaxed
from bot.core.search.ranker import Ranker
from bot.core.search.service import SearchPage, SearchService

__all__ = [
    "AliasMatcher",
    "Alternative",
    "Group",
    "Ranker",
    "SearchPage",
    "SearchService",
    "alias_key",
    "ensure_default_aliases",
    "parse_query",
    "phrase_alternatives",
    "relaxed",
]
