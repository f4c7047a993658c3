"""Keyword search over published reviews, Chinese and English, on SQLite and PostgreSQL.

The package, one module per concern: `segment` (jieba, filler words), `groups` (what a
parsed query is), `matching` (alias matching), `query` (the parser and the relaxed
retry), `typos`, `ranker`, `aliases` (alias storage and defaults) and `service` (the
use case). The tokenizer and the index are `bot.core.search_text` and
`bot.core.search_index`.

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
