"""SQLAlchemy 2 typed models: the store's single source of truth.

Alembic migrations in `bot/db/migrations` create exactly these tables; a test
compares the migrated schema with this metadata so the two cannot drift.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Deterministic constraint names, so migrations can drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

REVIEW_SECTIONS = ("latest", "classic")
REVIEW_STATUSES = ("draft", "queued", "published")
SUBSCRIBER_STATUSES = ("active", "unsubscribed", "blocked")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed")
#: Why a delivery failed: "transient" (5xx, network, timeout: a later push retries it)
#: or "final" (blocked, refused, unsubscribed: never retried).
DELIVERY_ERROR_KINDS = ("transient", "final")
CANDIDATE_STATUSES = ("pending", "drafted", "dismissed")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no offsets, PostgreSQL may."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Review(Base):
    """One paper review of the column, in whatever state of its life."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint(_one_of("section", REVIEW_SECTIONS), name="section"),
        CheckConstraint(_one_of("status", REVIEW_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    arxiv_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: The paper's link when it is not on arXiv (OpenReview, ACL Anthology); else None.
    paper_url: Mapped[str | None] = mapped_column(String(500))
    authors: Mapped[str] = mapped_column(String(1000), default="")
    paper_date: Mapped[dt.date | None] = mapped_column(Date)
    #: "year", "month" or "day": the column writes "2023年12月", which is not a day.
    paper_date_precision: Mapped[str | None] = mapped_column(String(8))
    section: Mapped[str] = mapped_column(String(16), default="latest")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    body: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    publish_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    #: When the review became due to subscribers (published from the queue, or by an
    #: editor's publish or `push --include`); None for the back catalogue an import
    #: brings in already published, which is never pushed unless an editor asks.
    announced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(Base):
    """A chat (private, group or channel) on some channel that may receive pushes."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("channel", "chat_id", name="uq_subscribers_channel_chat_id"),
        CheckConstraint(_one_of("status", SUBSCRIBER_STATUSES), name="status"),
        CheckConstraint(_one_of("push_format", ("digest", "full")), name="push_format"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), default="telegram")
    #: The chat's address on its channel, as text: a Telegram chat id ("-100123"), a
    #: WeChat OpenID; see migration 0007.
    chat_id: Mapped[str] = mapped_column(String(64))
    chat_type: Mapped[str] = mapped_column(String(16), default="private")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    #: Tags the subscriber wants pushed; empty means every review.
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    push_format: Mapped[str] = mapped_column(String(8), default="digest")
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    subscribed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """The outbox: one row per (subscriber, review), so each is sent at most once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "subscriber_id", "review_id", name="uq_deliveries_subscriber_id_review_id"
        ),
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        # The push's claim walks this in order and stops after the subscribers it takes
        # (migration 0008): a claim costs the same with 1,000 or 100,000 rows pending.
        Index("ix_deliveries_status_subscriber_id", "status", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    #: Indexed with subscriber_id (see __table_args__), which also serves `status` alone.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: One of DELIVERY_ERROR_KINDS once it failed; kept when a push re-queues it.
    error_kind: Mapped[str | None] = mapped_column(String(16))
    #: How many pushes re-queued it after a transient failure (capped).
    retry_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    message_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The worker holding the claim (process id + task), for diagnosing stuck pushes.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArxivCandidate(Base):
    """A paper arXiv announced that editors might review; one row per id without version."""

    __tablename__ = "arxiv_candidates"
    __table_args__ = (CheckConstraint(_one_of("status", CANDIDATE_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(1000))
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    abstract: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    announce_type: Mapped[str] = mapped_column(String(16), default="new")
    announced_on: Mapped[dt.date | None] = mapped_column(Date)
    score: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: What the score is made of (keyword hits, nearest reviews and feedback), so each
    #: channel can word the reason in the reader's language.
    signals: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: The draft review an editor made of it ("drafted" is the ranking's positive feedback).
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="SET NULL"))
    #: When an editor drafted or dismissed it; None while pending.
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: When it went to the editors in a post-poll alert, so no paper is announced twice.
    alerted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ArxivFeedState(Base):
    """Per-category polling state: conditional-request tag, last success, error backoff."""

    __tablename__ = "arxiv_feed_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(64), unique=True)
    etag: Mapped[str | None] = mapped_column(String(256))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_entry_count: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    #: While set and in the future, scheduled polls skip the category (backoff).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class ArxivRecord(Base):
    """A paper's metadata as the arXiv API states it, fetched once and kept (lint, drafts)."""

    __tablename__ = "arxiv_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(1000))
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    abstract: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    primary_category: Mapped[str | None] = mapped_column(String(32))
    #: When version 1 appeared: the paper's date as the column states it.
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    #: When the latest version appeared.
    revised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """Every admin action and every refused attempt at one, for the editors' records."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[str] = mapped_column(Text, default="")


# --- search index (maintained by bot.core.search_index; see bot/core/search.py) ---------


class SearchDoc(Base):
    """One published review as the search index holds it, pre-tokenized.

    `body_terms` is the content of SQLite's FTS5 table `search_fts`; on PostgreSQL a
    generated tsvector column over it (`body_tsv`, with a GIN index) plays that part.
    Both are created by the migration only, being specific to one backend.
    """

    __tablename__ = "search_docs"

    review_id: Mapped[int] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    #: "term:weight term:weight ...": exactly the rows this review has in search_postings.
    head_terms: Mapped[str] = mapped_column(Text, default="")
    #: The body's distinct tokens, space-separated.
    body_terms: Mapped[str] = mapped_column(Text, default="")


class SearchPosting(Base):
    """A term of a review's title, tags, arXiv id, authors or summary, with its weight.

    The primary key doubles as the ranking index: a term's best reviews come first.
    """

    __tablename__ = "search_postings"
    __table_args__ = ({"sqlite_with_rowid": False},)

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    weight: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    review_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class SearchTerm(Base):
    """The vocabulary: every indexed term and in how many reviews it occurs."""

    __tablename__ = "search_terms"
    __table_args__ = ({"sqlite_with_rowid": False},)

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    df: Mapped[int] = mapped_column(Integer, default=0)


class SearchState(Base):
    """Bookkeeping of the index: its format version and how many reviews it holds."""

    __tablename__ = "search_state"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class SearchAlias(Base):
    """A search term and its alias group: every term of a group finds the others."""

    __tablename__ = "search_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: As the editor wrote it, for display.
    term: Mapped[str] = mapped_column(String(100))
    #: Normalized (case, width, plural), what queries are matched against.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    group_id: Mapped[int] = mapped_column(Integer, index=True)


class PushRun(Base):
    """One push: when, why, and what came of it (for /stats and the admins' summary)."""

    __tablename__ = "push_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    planned: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class JobState(Base):
    """When each scheduled job last ran, so a run missed while the bot was down is
    noticed at the next start (APScheduler's memory does not survive a restart)."""

    __tablename__ = "job_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class LeaderLease(Base):
    """Who runs the scheduled work: one row per duty, held by one process at a time.

    `epoch` is the fencing token: it grows by one at every takeover, so work stamped
    with an older epoch is recognisably a former leader's."""

    __tablename__ = "leader_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Replica(Base):
    """One running `paperbot run` process: its heartbeat, so `paperbot status` on any
    replica lists every one (the lease names only the leader). Written by
    bot/replicas.py every third of LEADER_LEASE_SECONDS; a clean stop deletes its row,
    a killed process's row stays with an old heartbeat (shown as gone, pruned later)."""

    __tablename__ = "replicas"

    #: The process identity its leader lease would name (host:pid:suffix).
    holder: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    #: Where its HTTP server listens (HTTP_HOST:HTTP_PORT).
    address: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SendPacer(Base):
    """One channel's send schedule, shared by every process that sends on it (see
    bot/core/pacer.py): the next free slot and the end of the shared 429 pause, both
    wall-clock seconds (`time.time()`; 0 = none), so the channel's overall limit holds
    for all the processes together."""

    __tablename__ = "send_pacers"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Double, default=0.0)
    paused_until: Mapped[float] = mapped_column(Double, default=0.0)


PUSH_REQUEST_STATUSES = ("pending", "running", "done", "failed")


class PushRequest(Base):
    """A push an editor asked for (/publish): recorded by whichever process got the
    command, run by the leader, whose summary goes back to `requested_by`."""

    __tablename__ = "push_requests"
    __table_args__ = (CheckConstraint(_one_of("status", PUSH_REQUEST_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The channel and chat address to send the summary to (addresses are strings).
    channel: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    trigger: Mapped[str] = mapped_column(String(32))
    #: The ids of the reviews the request is about (for the editor's reply), a JSON list.
    reviews: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(Text)


class ButtonState(Base):
    """What a button stands for when it does not fit in the button (a search's query
    for its paging buttons), kept in the store so that any process answers a tap."""

    __tablename__ = "button_states"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ChannelCredential(Base):
    """A short-lived credential a channel obtains from its service (WeChat's
    access_token), shared by every process so that they do not each fetch one and
    invalidate one another's."""

    __tablename__ = "channel_credentials"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SeenInbound(Base):
    """An inbound message already taken on (a WeChat MsgId, or sender + CreateTime of an
    event): a service that retries delivery gets the work done once, by one process."""

    __tablename__ = "seen_inbound"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ReviewImport(Base):
    """What the last import of one source wrote into one review, field by field.

    An import compares the store with it: a field whose stored value differs from what
    this source last wrote was corrected in the store since (by an editor, or by
    another source), and the import keeps it unless told `--overwrite`. A source is a
    file's resolved path.
    """

    __tablename__ = "review_imports"
    __table_args__ = (
        UniqueConstraint("review_id", "source", name="uq_review_imports_review_id_source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(1000))
    #: The source's values, as `bot.core.import_records.field_values` writes them.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatList(Base):
    """The last list of reviews a chat was shown (/latest, /classic, a search, a page),
    so `/review N` opens item N of what the reader saw (bot/core/chat_lists.py)."""

    __tablename__ = "chat_lists"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Which list it was ("latest:5", "search:<token>"): pages of one list add up.
    list_key: Mapped[str] = mapped_column(String(200), default="")
    #: Review ids by the number shown: {"1": 17, "2": 4, ...}.
    items: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


BROADCAST_STATUSES = ("planned", "draft_created", "sent", "finished", "failed")


class Broadcast(Base):
    """One broadcast push (a channel's single message to all its followers, e.g.
    WeChat's mass send) of one set of reviews, walked planned -> draft_created
    (draft_id) -> sent (message_id) -> finished (counts), or failed (error). Each step
    is committed before the next call, so a restart resumes the row instead of
    sending again; `push_key` is the idempotency key handed to the channel."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        UniqueConstraint("channel", "push_key", name="uq_broadcasts_channel_push_key"),
        CheckConstraint(_one_of("status", BROADCAST_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    push_key: Mapped[str] = mapped_column(String(64))
    review_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    draft_id: Mapped[str | None] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    total_count: Mapped[int | None] = mapped_column(Integer)
    filter_count: Mapped[int | None] = mapped_column(Integer)
    sent_count: Mapped[int | None] = mapped_column(Integer)
    error_count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
