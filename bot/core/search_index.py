"""The search index: what each published review contributes, and keeping it in step.

Three tables hold it (see `bot/db/models.py` and migration 0002), identically on both
backends, plus one backend-specific full-text index over the review bodies:

* `search_postings` (term, weight, review_id): every term of a review's *head* — arXiv
  id, title, tags, authors and summary — and every body term said at least
  BODY_TF_MIN times, with a weight saying in which fields and how often it occurs.
  Its primary key is the ranking index: a term's best reviews come first, so even a term
  in most reviews costs one short index range read (LIMIT k), never a scan.
* `search_docs`: the review's terms (for maintenance) and its distinct body tokens.
  Body tokens are indexed by SQLite FTS5 (`search_fts`, external content, unicode61)
  or by a PostgreSQL GIN index over a generated tsvector column (`body_tsv`). Both only
  answer "which reviews contain these tokens, newest first" over tokens produced in
  Python, so they return the same reviews.
* `search_terms` (term, df): the vocabulary with document frequencies, for idf weights,
  for recognizing common terms and for typo correction.

Only published reviews are indexed. A SQLAlchemy session hook (registered when this
module is imported) re-indexes every `Review` the ORM inserts, updates or deletes, in
the same transaction, so the use case's commit or rollback covers the index too. Bulk
SQL that bypasses the ORM is noticed at start-up (`ensure_index`: the indexed count or
the index format differs) and answered with a full rebuild.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, event, inspect, select
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from bot.core.search_text import arxiv_token, text_tokens, weighted_tokens
from bot.db.driver_reads import DriverRead
from bot.db.models import Review, SearchState

log = logging.getLogger(__name__)

#: Bump when the tokenizer changes (search_text): start-up then rebuilds the index.
TOKENIZER_VERSION = 2
#: Bump when weighting or the index's layout changes: start-up then rebuilds it too.
FORMAT_VERSION = 2
#: What `search_state.version` holds for an index built by this code. Version 1 was
#: bigrams and words with the best field's weight; 2002 adds adjacency tokens (AI反馈),
#: per-field saturated term frequency, repeated body terms and the title/tags bit.
INDEX_VERSION = TOKENIZER_VERSION * 1000 + FORMAT_VERSION

#: Field weights of the head (x10 when stored). Body hits weigh BODY_WEIGHT.
W_IDENT = 20.0
W_TITLE = 10.0
W_TAGS = 9.0
W_AUTHORS = 8.0
W_SUMMARY = 4.0
#: A term in several fields counts its best field fully and the others by this much.
W_OTHER_FIELDS = 0.2
#: BM25 saturation per field, against fixed typical field lengths (in tokens): fixed,
#: so that a review's weights do not change when other reviews come and go.
BM25_K1 = 1.2
BM25_B = 0.75
FIELD_LENGTHS = {
    "ident": 1.0,
    "title": 8.0,
    "tags": 6.0,
    "authors": 6.0,
    "summary": 45.0,
    "body": 600.0,
}
#: Length normalization per field: none for labels (ids, tags, authors), where a longer
#: list does not make each label less of one.
FIELD_B = {
    "ident": 0.0,
    "title": BM25_B,
    "tags": 0.0,
    "authors": 0.0,
    "summary": BM25_B,
    "body": BM25_B,
}
#: A body term said at least this often gets a posting, of the body's weight (1.5, as a
#: body hit) times its saturated frequency.
BODY_TF_MIN = 3
W_BODY_TF = 1.5

FTS_TABLE = "search_fts"
GIN_INDEX = "ix_search_docs_body_tsv"
#: Objects the migration creates on one backend only; the ORM models do not describe
#: them, so the model-vs-migration comparison in tests/test_migrations.py skips them.
BACKEND_SPECIFIC_OBJECTS = frozenset(
    {
        FTS_TABLE,
        f"{FTS_TABLE}_data",
        f"{FTS_TABLE}_idx",
        f"{FTS_TABLE}_docsize",
        f"{FTS_TABLE}_config",
        "body_tsv",
        GIN_INDEX,
    }
)

#: The `search_state` key counting changes to reviews (any field, any process): with the
#: docs count and the index version, the store's search version (`IndexStore.version_of`).
CHANGES_KEY = "changes"
#: (changes, docs, index version): equal versions, equal search results.
StoreVersion = tuple[int, int, int]
#: The whole of `search_state` on the DBAPI connection (`IndexStore.current_version`).
_READ_STATE = DriverRead(select(SearchState.key, SearchState.value))

#: Fields a search looks at; changing any of them re-indexes the review.
INDEXED_FIELDS = ("title", "arxiv_id", "authors", "tags", "summary", "body", "status")


@dataclass(frozen=True)
class DocTerms:
    """A review's contribution to the index."""

    head: dict[str, int]  # term → weight x10
    body: frozenset[str]

    def head_text(self) -> str:
        return " ".join(f"{term}:{weight}" for term, weight in sorted(self.head.items()))

    def body_text(self) -> str:
        return " ".join(sorted(self.body))

    @property
    def vocabulary(self) -> set[str]:
        return set(self.head) | self.body

    @classmethod
    def parse(cls, head_text: str, body_text: str) -> DocTerms:
        head = {}
        for item in head_text.split():
            term, _, weight = item.rpartition(":")
            head[term] = int(weight)
        return cls(head, frozenset(body_text.split()))


def saturated(tf: float, length: int, average: float, b: float = 0.75) -> float:
    """BM25's term-frequency saturation, 1.0 for one occurrence in a field of average
    length: a second mention counts, a tenth hardly more, and (b > 0) a short field
    more than a long one."""
    norm = 1 - b + b * length / average
    return tf * (BM25_K1 + 1) / (tf + BM25_K1 * norm)


def encode_weight(value: float, prominent: bool) -> int:
    """A posting's stored weight: the value x10, and in the lowest bit whether the term
    is in the title or tags (the tie-break). Ordering by it still orders by value."""
    return (round(10 * value) << 1) | int(prominent)


def decode_weight(stored: int) -> tuple[float, bool]:
    return (stored >> 1) / 10, bool(stored & 1)


def doc_terms(
    *,
    title: str,
    arxiv_id: str | None,
    authors: str,
    tags: Sequence[str],
    summary: str,
    body: str,
) -> DocTerms:
    """Tokenize a review's fields and weigh each head term by where and how often it
    occurs (per field: the field's weight times BM25-style saturated frequency)."""
    found: dict[str, list[float]] = {}
    prominent: set[str] = set()

    def add(tokens: list[tuple[str, float]], weight: float, field: str) -> None:
        factor: dict[str, float] = {}
        for token, part in tokens:
            factor[token] = max(factor.get(token, 0.0), part)
        # Occurrences at the token's best: BERT in "DistilBERT ... of BERT" is said once
        # on its own; the part of a compound does not make it said twice.
        tf = Counter(token for token, part in tokens if part == factor[token])
        average, b = FIELD_LENGTHS[field], FIELD_B[field]
        for token, count in tf.items():
            value = weight * factor[token] * saturated(count, len(tokens), average, b)
            found.setdefault(token, []).append(value)
        if field in ("title", "tags"):
            prominent.update(tf)

    if arxiv_id:
        add([(arxiv_token(arxiv_id), 1.0)], W_IDENT, "ident")
    add(weighted_tokens(title), W_TITLE, "title")
    add([pair for tag in tags for pair in weighted_tokens(str(tag))], W_TAGS, "tags")
    add(weighted_tokens(authors), W_AUTHORS, "authors")
    add(weighted_tokens(summary), W_SUMMARY, "summary")
    body_tokens = text_tokens(body)
    # How often the body says a term: the review about RLHF says it again and again, one
    # that mentions it says it once. Only repeated terms get a posting (FTS/GIN already
    # answer "is it in the body"), which keeps the postings table small.
    repeated = Counter(body_tokens)
    for term, count in repeated.items():
        if count >= BODY_TF_MIN:
            value = W_BODY_TF * saturated(count, len(body_tokens), FIELD_LENGTHS["body"], BM25_B)
            found.setdefault(term, []).append(value)
    head = {}
    for term, weights in found.items():
        best = max(weights)
        value = best + W_OTHER_FIELDS * (sum(weights) - best)
        head[term] = encode_weight(value, term in prominent)
    return DocTerms(head, frozenset(body_tokens))


def review_terms(review: Review) -> DocTerms:
    return doc_terms(
        title=review.title,
        arxiv_id=review.arxiv_id,
        authors=review.authors or "",
        tags=list(review.tags or []),
        summary=review.summary or "",
        body=review.body or "",
    )


class IndexStore:
    """The index's SQL on one connection; writes never commit (the caller's transaction)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgres = connection.dialect.name == "postgresql"

    # --- low level -------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # The DBAPI cursor of the connection's own transaction: plain tuples, no Row
        # objects, which is most of the cost of reading a few thousand postings.
        cursor = self.connection.connection.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection.exec_driver_sql(self._sql(sql), tuple(params))

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.connection.exec_driver_sql(self._sql(sql), [tuple(row) for row in rows])

    # --- state -----------------------------------------------------------------------

    def state(self) -> dict[str, int]:
        return {key: int(value) for key, value in self.rows("SELECT key, value FROM search_state")}

    @staticmethod
    def version_of(state: dict[str, int]) -> StoreVersion:
        """The store's search version in a `state()`: what results and index reads
        remembered between searches are keyed by (`bot.core.search.cache`)."""
        return (state.get(CHANGES_KEY, 0), state.get("docs", 0), state.get("version", 0))

    @staticmethod
    def current_version(engine: Engine) -> StoreVersion:
        """The store's search version, read by one statement on a pooled DBAPI
        connection (`DriverRead`): what a search or a review lookup answered from memory
        needs to know.

        Through a session (or a Core connection: its BEGIN, events and result objects)
        the same read cost six times the query, and every cached search and `/review N`
        paid it. A single SELECT is a consistent snapshot by itself (SQLite in
        autocommit mode; PostgreSQL, a transaction the pool rolls back on return).
        Whatever is then read from the store goes through a session, which reads the
        version again in its own transaction and keys what it reads by that one."""
        state = {key: int(value) for key, value in _READ_STATE.all(engine, {})}
        return IndexStore.version_of(state)

    def count_change(self) -> None:
        """Bump the change counter: some review was added, changed or removed."""
        self.run(
            "INSERT INTO search_state (key, value) VALUES (?, 1) ON CONFLICT (key) "
            "DO UPDATE SET value = search_state.value + 1",
            (CHANGES_KEY,),
        )

    def _set_state(self, key: str, value: int) -> None:
        self.run("DELETE FROM search_state WHERE key = ?", (key,))
        self.run("INSERT INTO search_state (key, value) VALUES (?, ?)", (key, value))

    def _bump_docs(self, delta: int) -> None:
        self.run("UPDATE search_state SET value = value + ? WHERE key = 'docs'", (delta,))

    # --- reading (the search) -------------------------------------------------------

    def dfs(self, terms: Sequence[str]) -> dict[str, int]:
        """Document frequencies of the terms the vocabulary knows."""
        if not terms:
            return {}
        if self.postgres:
            found = self.rows(
                "SELECT term, df FROM search_terms WHERE term = ANY(?)", [list(terms)]
            )
        else:
            found = []
            for start in range(0, len(terms), 900):
                chunk = terms[start : start + 900]
                marks = ", ".join("?" for _ in chunk)
                found += self.rows(
                    f"SELECT term, df FROM search_terms WHERE term IN ({marks})", chunk
                )
        return {term: int(df) for term, df in found}

    def head_lists(self, terms: Sequence[str], k: int) -> dict[str, dict[int, int]]:
        """Each term's k best reviews (`head_postings`) as review id → stored weight; a
        term no review has gets an empty mapping. Callers only read them."""
        lists: dict[str, dict[int, int]] = {term: {} for term in terms}
        for term, review_id, weight in self.head_postings(terms, k):
            lists[term][review_id] = weight
        return lists

    def head_postings(self, terms: Sequence[str], k: int) -> list[tuple[str, int, int]]:
        """(term, review_id, weight): each term's k best reviews, by weight then newest."""
        if not terms:
            return []
        parts = [
            f"SELECT * FROM (SELECT term, review_id, weight FROM search_postings WHERE term = ? "
            f"ORDER BY weight DESC, review_id DESC LIMIT {int(k)}) AS p{n}"
            for n in range(len(terms))
        ]
        return self.rows(" UNION ALL ".join(parts), terms)

    def body_matches(
        self, alternatives: Sequence[tuple[str, ...]], k: int, floor: int | None
    ) -> list[list[int]]:
        """For each conjunction of tokens, the newest k reviews whose body has them all
        (only reviews with id >= floor, if given)."""
        if not alternatives:
            return []
        parts: list[str] = []
        params: list[str | int] = []
        for n, tokens in enumerate(alternatives):
            if self.postgres:
                condition = "body_tsv @@ CAST(? AS tsquery)"
                params.append(" & ".join(f"'{token}'" for token in tokens))
                source = f"SELECT review_id FROM search_docs WHERE {condition}"
                # Unwindowed, "+ 0" keeps the planner off a backward walk of the primary
                # key that would de-TOAST every body until k match (a GIN bitmap scan and
                # a top-k sort is far cheaper); in the window, that walk is the good plan.
                order = "review_id" if floor is not None else "review_id + 0"
            else:
                params.append(" AND ".join(f'"{token}"' for token in tokens))
                source = f"SELECT rowid AS review_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
                order = "rowid"
            if floor is not None:
                source += " AND review_id >= ?" if self.postgres else " AND rowid >= ?"
                params.append(floor)
            parts.append(
                f"SELECT {n} AS q, review_id FROM ({source} ORDER BY {order} DESC "
                f"LIMIT {int(k)}) AS b{n}"
            )
        hits: list[list[int]] = [[] for _ in alternatives]
        for q, review_id in self.rows(" UNION ALL ".join(parts), params):
            hits[int(q)].append(int(review_id))
        return hits

    def review_texts(
        self, review_ids: Sequence[int], body_chars: int
    ) -> dict[int, dict[str, list[str]]]:
        """The stored title, tags, summary and the start of the body of some reviews
        (for the phrase bonus, which needs the words' order the index does not keep)."""
        if not review_ids:
            return {}
        marks = ", ".join("?" for _ in review_ids)
        found = self.rows(
            "SELECT id, title, tags, summary, substr(body, 1, ?) FROM reviews"
            f" WHERE id IN ({marks})",
            [body_chars, *review_ids],
        )
        return {
            row[0]: {
                "title": [row[1] or ""],
                "tags": _tags(row[2]),
                "summary": [row[3] or ""],
                "body": [row[4] or ""],
            }
            for row in found
        }

    def newest_floor(self, window: int) -> int | None:
        """The id such that `window` indexed reviews have an id at least as high."""
        found = self.rows(
            "SELECT review_id FROM search_docs ORDER BY review_id DESC LIMIT 1 OFFSET ?",
            (max(window - 1, 0),),
        )
        return int(found[0][0]) if found else None

    # --- one review at a time (the session hook) -------------------------------------

    def sync(self, review_id: int, terms: DocTerms | None) -> None:
        """Make the index hold `terms` for the review (None: not at all)."""
        found = self.rows(
            "SELECT head_terms, body_terms FROM search_docs WHERE review_id = ?", (review_id,)
        )
        old = DocTerms.parse(*found[0]) if found else None
        if old is None and terms is None:
            return
        if old is not None and terms is not None and old == terms:
            return
        old_head = old.head if old else {}
        new_head = terms.head if terms else {}
        self.run_many(
            "DELETE FROM search_postings WHERE term = ? AND weight = ? AND review_id = ?",
            [(t, w, review_id) for t, w in sorted(old_head.items()) if new_head.get(t) != w],
        )
        self.run_many(
            "INSERT INTO search_postings (term, weight, review_id) VALUES (?, ?, ?)",
            [(t, w, review_id) for t, w in sorted(new_head.items()) if old_head.get(t) != w],
        )
        old_vocabulary = old.vocabulary if old else set()
        new_vocabulary = terms.vocabulary if terms else set()
        self._count_terms(sorted(new_vocabulary - old_vocabulary), +1)
        self._count_terms(sorted(old_vocabulary - new_vocabulary), -1)
        if old is not None and (terms is None or old.body != terms.body):
            self._fts_delete(review_id, old.body_text())
        if terms is None:
            self.run("DELETE FROM search_docs WHERE review_id = ?", (review_id,))
            self._bump_docs(-1)
        elif old is None:
            self.run(
                "INSERT INTO search_docs (review_id, head_terms, body_terms) VALUES (?, ?, ?)",
                (review_id, terms.head_text(), terms.body_text()),
            )
            self._fts_insert(review_id, terms.body_text())
            self._bump_docs(+1)
        else:
            self.run(
                "UPDATE search_docs SET head_terms = ?, body_terms = ? WHERE review_id = ?",
                (terms.head_text(), terms.body_text(), review_id),
            )
            if old.body != terms.body:
                self._fts_insert(review_id, terms.body_text())

    def _count_terms(self, terms: list[str], delta: int) -> None:
        if not terms:
            return
        if delta > 0:
            self.run_many(
                "INSERT INTO search_terms (term, df) VALUES (?, 1) "
                "ON CONFLICT (term) DO UPDATE SET df = search_terms.df + 1",
                [(term,) for term in terms],
            )
            return
        self.run_many(
            "UPDATE search_terms SET df = df - 1 WHERE term = ?", [(term,) for term in terms]
        )
        self.run_many(
            "DELETE FROM search_terms WHERE term = ? AND df <= 0", [(term,) for term in terms]
        )

    def _fts_insert(self, review_id: int, body_text: str) -> None:
        if not self.postgres:  # PostgreSQL: the generated column follows body_terms
            self.run(
                f"INSERT INTO {FTS_TABLE} (rowid, body_terms) VALUES (?, ?)",
                (review_id, body_text),
            )

    def _fts_delete(self, review_id: int, body_text: str) -> None:
        if not self.postgres:
            self.run(
                f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, body_terms) VALUES ('delete', ?, ?)",
                (review_id, body_text),
            )

    # --- everything at once ----------------------------------------------------------

    def rebuild(self, batch_size: int = 2000) -> int:
        """Index every published review from scratch, in bulk; returns how many."""
        self.run("DELETE FROM search_postings")
        self.run("DELETE FROM search_terms")
        self.run("DELETE FROM search_docs")
        if self.postgres:
            # Bulk loading into fresh indexes is far faster than maintaining them.
            self.run(f"DROP INDEX IF EXISTS {GIN_INDEX}")
            self.run("ALTER TABLE search_postings DROP CONSTRAINT IF EXISTS pk_search_postings")
        else:
            self.run(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('delete-all')")
        vocabulary: Counter[str] = Counter()
        indexed, last_id = 0, 0
        while True:
            batch = self.rows(
                "SELECT id, title, arxiv_id, authors, tags, summary, body FROM reviews "
                "WHERE status = 'published' AND id > ? ORDER BY id LIMIT ?",
                (last_id, batch_size),
            )
            if not batch:
                break
            last_id = batch[-1][0]
            docs: list[tuple[Any, ...]] = []
            postings: list[tuple[Any, ...]] = []
            for review_id, title, arxiv_id, authors, tags, summary, body in batch:
                terms = doc_terms(
                    title=title,
                    arxiv_id=arxiv_id,
                    authors=authors or "",
                    tags=_tags(tags),
                    summary=summary or "",
                    body=body or "",
                )
                docs.append((review_id, terms.head_text(), terms.body_text()))
                postings.extend((t, w, review_id) for t, w in terms.head.items())
                vocabulary.update(terms.vocabulary)
            postings.sort()
            self._bulk("search_docs", ("review_id", "head_terms", "body_terms"), docs)
            self._bulk("search_postings", ("term", "weight", "review_id"), postings)
            indexed += len(batch)
        self._bulk("search_terms", ("term", "df"), sorted(vocabulary.items()))
        if self.postgres:
            self.run(
                "ALTER TABLE search_postings ADD CONSTRAINT pk_search_postings "
                "PRIMARY KEY (term, weight, review_id)"
            )
            self.run(f"CREATE INDEX {GIN_INDEX} ON search_docs USING gin (body_tsv)")
        else:
            self.run(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")
        self._set_state("docs", indexed)
        self._set_state("version", INDEX_VERSION)
        self.count_change()
        return indexed

    def _bulk(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.postgres:
            raw = self.connection.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        self.run_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _tags(value: Any) -> list[str]:
    """Tags as read by raw SQL: a JSON string on SQLite, a list from psycopg."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return [str(tag) for tag in value or []]


def ensure_index(sessions: sessionmaker[Session]) -> bool:
    """Rebuild the index if it is missing, of another format or out of step (start-up).

    Cheap when all is well: two small queries. Returns whether it rebuilt.
    """
    with sessions.begin() as session:
        store = IndexStore(session.connection())
        state = store.state()
        published = store.rows("SELECT count(*) FROM reviews WHERE status = 'published'")[0][0]
        if state.get("version") == INDEX_VERSION and state.get("docs") == published:
            return False
        if published:
            log.info("building the search index for %d published reviews", published)
        store.rebuild()
        return True


# --- the session hook --------------------------------------------------------------


def _changed(review: Review) -> bool:
    state = inspect(review)
    return any(state.attrs[name].history.has_changes() for name in INDEXED_FIELDS)


def _before_flush(session: Session, _context: UOWTransaction, _instances: object) -> None:
    # Deleted reviews leave the index before their row goes (the FK cascade would
    # otherwise take search_docs, and with it what the FTS table needs to forget them).
    deleted = [obj for obj in session.deleted if isinstance(obj, Review) and obj.id is not None]
    if deleted:
        store = IndexStore(session.connection())
        for review in deleted:
            store.sync(review.id, None)


#: `Session.info` key: this session flushed a change to some review, not yet counted.
_REVIEWS_CHANGED = "paperbot.reviews_changed"


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    # In after_flush, new/dirty still list what was flushed, and ids are assigned.
    if any(isinstance(obj, Review) for obj in (*session.new, *session.deleted)) or any(
        isinstance(obj, Review) and session.is_modified(obj) for obj in session.dirty
    ):
        session.info[_REVIEWS_CHANGED] = True
    touched = [
        obj
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, Review) and obj not in session.deleted
    ]
    touched = [obj for obj in touched if obj in session.new or _changed(obj)]
    if not touched:
        return
    store = IndexStore(session.connection())
    for review in sorted(touched, key=lambda row: row.id):
        published = review.status == "published"
        store.sync(review.id, review_terms(review) if published else None)


def _before_commit(session: Session) -> None:
    # Any change to a review (any field: a search shows the review, not only its index
    # terms) bumps the change counter, the last write before the commit: its row lock
    # is then held only while committing, so two transactions changing reviews cannot
    # deadlock over it. Whatever is still pending is flushed first to be counted.
    session.flush()
    if session.info.pop(_REVIEWS_CHANGED, False):
        IndexStore(session.connection()).count_change()


def install_hooks() -> None:
    """Keep the index in step with every ORM change to reviews (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "before_commit", _before_commit)


install_hooks()
