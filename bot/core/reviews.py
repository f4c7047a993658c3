"""Reviews: the repository (queries, never commits) and the service (use cases, commits)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

# Imported for its session hook: every review added or changed here is (re)indexed for
# search in the same transaction.
import bot.core.search_index  # noqa: F401
from bot.core.numbers import parse_count
from bot.core.search_index import IndexStore, StoreVersion
from bot.core.sources import (
    SLUG_PATTERN,
    PaperDate,
    ParsedReview,
    ReviewFormatError,
    derive_summary,
    is_lead_in,
    make_slug,
    parse_arxiv_id,
    read_source,
    source_files,
    to_front_matter,
)
from bot.db.engine import read_only_sessions
from bot.db.models import Review, ReviewImport, utcnow

log = logging.getLogger(__name__)

#: How long a page of /latest or /classic may be served from memory. Changes made by
#: this process are seen at once; those made by another replica within this time.
PAGE_CACHE_SECONDS = 10.0
PAGE_CACHE_SIZE = 1_000
#: Reviews kept by id or reference for the store's current search version (`_versioned`).
BY_ID_CACHE_SIZE = 1_000
#: What `_by_id` holds for a review it does not know (None is a kept answer: no such review).
_NOT_KEPT = object()


class ReviewStateError(ValueError):
    """A review is not in the state the requested change needs (said to the editor).

    `str()` is the English line the shell prints; the fields let a chat say it in the
    reader's language (bot/core/features/editors.py): no review `review_id` (status
    None), or review `review_id` is `status` where one of `expected` was needed.
    """

    def __init__(
        self,
        message: str,
        *,
        review_id: int | None = None,
        status: str | None = None,
        expected: tuple[str, ...] = (),
        title: str | None = None,
    ) -> None:
        super().__init__(message)
        self.review_id = review_id
        self.status = status
        self.expected = expected
        self.title = title


class UnsafeSlugError(ValueError):
    """A stored slug that cannot be used as a file name (export refuses to write)."""


def _in_slug_family(candidate: str, slug: str) -> bool:
    """`slug` itself or a collision suffix of it, as `_unique_slug` makes them."""
    if candidate == slug:
        return True
    stem, _, number = candidate.rpartition("-")
    return number.isdigit() and stem == slug[:60]


#: The columns a `ReviewView` is made of.
VIEW_COLUMNS = (
    "id",
    "slug",
    "title",
    "arxiv_id",
    "authors",
    "paper_date",
    "paper_date_precision",
    "section",
    "tags",
    "summary",
    "body",
    "status",
    "publish_at",
    "published_at",
    "paper_url",
    "updated_at",
)


@dataclass(frozen=True)
class ReviewView:
    """A review as every channel sees it: plain data, detached from the session."""

    id: int
    slug: str
    title: str
    arxiv_id: str | None
    authors: str
    paper_date: PaperDate | None
    section: str
    tags: tuple[str, ...]
    summary: str
    body: str
    status: str
    publish_at: dt.datetime | None
    published_at: dt.datetime | None
    #: The link of a paper that is not on arXiv (OpenReview, ACL Anthology).
    paper_url: str | None = None
    #: When what readers see last changed (import, publish): feeds' `updated`, ETags.
    updated_at: dt.datetime | None = None

    @property
    def arxiv_url(self) -> str | None:
        return f"https://arxiv.org/abs/{self.arxiv_id}" if self.arxiv_id else None

    @property
    def link_url(self) -> str | None:
        """Where the paper is: its arXiv page, or the other site it is on."""
        return self.arxiv_url or self.paper_url

    @classmethod
    def of(cls, row: Review) -> ReviewView:
        return cls.of_columns({name: getattr(row, name) for name in VIEW_COLUMNS})

    @classmethod
    def of_columns(cls, values: Mapping[str, Any]) -> ReviewView:
        """A view of a review's columns (`VIEW_COLUMNS`) read without the ORM."""
        paper_date = values["paper_date"]
        return cls(
            id=values["id"],
            slug=values["slug"],
            title=values["title"],
            arxiv_id=values["arxiv_id"],
            authors=values["authors"],
            paper_date=(
                PaperDate(paper_date, values["paper_date_precision"] or "day")
                if paper_date
                else None
            ),
            section=values["section"],
            tags=tuple(values["tags"] or ()),
            summary=values["summary"],
            body=values["body"],
            status=values["status"],
            publish_at=values["publish_at"],
            published_at=values["published_at"],
            paper_url=values["paper_url"],
            updated_at=values["updated_at"],
        )


@dataclass(frozen=True)
class ReviewEntry:
    """A published review without its text: what lists, archives and sitemaps need, small
    enough to hold the whole catalogue in memory."""

    id: int
    slug: str
    title: str
    section: str
    tags: tuple[str, ...]
    published_at: dt.datetime | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class CatalogueVersion:
    """Changes whenever a review is added, changed, published or removed: a cheap probe
    (one aggregate query) that tells another process its cached views are stale."""

    count: int
    last_change: dt.datetime | None


@dataclass(frozen=True)
class Page:
    items: tuple[ReviewView, ...]
    offset: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


#: The fields an import protects: once corrected in the store, a source that still
#: says otherwise does not put its value back unless told to (`--overwrite`).
PROTECTED_FIELDS = (
    "slug",
    "title",
    "arxiv_id",
    "authors",
    "paper_date",
    "paper_date_precision",
    "section",
    "tags",
    "summary",
    "body",
)
_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    """One field where the source and the store differ. `applied`: the import wrote the
    source's value; else the store's value was kept (corrected since this source's
    last import, or never written by it) and `--overwrite` would write it."""

    field: str
    stored: Any
    source: Any
    applied: bool


@dataclass(frozen=True)
class ImportOutcome:
    action: str  # "added" | "updated" | "unchanged"
    review: ReviewView
    changes: tuple[FieldChange, ...] = ()

    @property
    def kept(self) -> tuple[FieldChange, ...]:
        return tuple(change for change in self.changes if not change.applied)


@dataclass(frozen=True)
class FileReport:
    path: str
    outcomes: tuple[ImportOutcome, ...] = ()
    error: str | None = None
    #: Accepted with a note for the editor (a paper that is not on arXiv).
    warnings: tuple[str, ...] = ()


# --- repository ----------------------------------------------------------------------


class ReviewRepository:
    """Queries over reviews. Never commits: the calling use case owns the transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, review_id: int) -> Review | None:
        return self.session.get(Review, review_id)

    def by_slug(self, slug: str) -> Review | None:
        return self.session.scalar(select(Review).where(Review.slug == slug))

    def by_arxiv_id(self, arxiv_id: str) -> Review | None:
        return self.session.scalar(select(Review).where(Review.arxiv_id == arxiv_id))

    def published(self, section: str | None, limit: int, offset: int) -> Sequence[Review]:
        query = self._published_query(section).order_by(
            Review.published_at.desc().nulls_last(),
            Review.paper_date.desc().nulls_last(),
            Review.id,
        )
        return self.session.scalars(query.limit(limit).offset(offset)).all()

    def count_published(self, section: str | None) -> int:
        query = self._published_query(section).with_only_columns(func.count(Review.id))
        return int(self.session.scalar(query) or 0)

    def all(self) -> Sequence[Review]:
        return self.session.scalars(select(Review).order_by(Review.id)).all()

    def count(self) -> int:
        return int(self.session.scalar(select(func.count(Review.id))) or 0)

    def with_slug_family(self, slug: str) -> Sequence[Review]:
        """Reviews whose slug is `slug` or `slug-<n>` (the suffixes of collisions)."""
        stem = slug[:60].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.session.scalars(
            select(Review)
            .where(or_(Review.slug == slug, Review.slug.like(f"{stem}-%", escape="\\")))
            .order_by(Review.id)
        ).all()
        return [row for row in rows if _in_slug_family(row.slug, slug)]

    def slug_taken(self, slug: str, except_id: int | None = None) -> bool:
        query = select(Review.id).where(Review.slug == slug)
        if except_id is not None:
            query = query.where(Review.id != except_id)
        return self.session.scalar(query) is not None

    def add(self, review: Review) -> None:
        self.session.add(review)

    @staticmethod
    def _published_query(section: str | None) -> Any:
        query = select(Review).where(Review.status == "published")
        if section:
            query = query.where(Review.section == section)
        return query


# --- service -------------------------------------------------------------------------


def content_hash(review: Review) -> str:
    """A digest of what readers see, so a changed source is noticed and an equal one is not."""
    payload = {
        "slug": review.slug,
        "title": review.title,
        "arxiv_id": review.arxiv_id,
        "authors": review.authors,
        "paper_date": review.paper_date.isoformat() if review.paper_date else None,
        "precision": review.paper_date_precision,
        "section": review.section,
        "tags": list(review.tags or []),
        "summary": review.summary,
        "body": review.body,
    }
    if review.paper_url:  # only when set, so the digests of arXiv reviews stay as they were
        payload["paper_url"] = review.paper_url
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


class ReviewService:
    """Use cases over reviews; each public method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        #: What readers' messages read (pages, a review): `read_only`, never behind a write.
        self._reads = read_only_sessions(sessions)
        self._reads_engine: Engine = self._reads.kw["bind"]
        self._pages: dict[tuple[str | None, int, int], tuple[Page, float]] = {}
        #: (search version, review id, published only) -> the review as read then.
        self._by_id: dict[tuple[StoreVersion, str, int | str, bool], ReviewView | None] = {}
        self._by_id_version: StoreVersion | None = None

    # reading

    def page(self, section: str | None, limit: int = 5, offset: int = 0) -> Page:
        """A page of published reviews, newest first.

        Every reader's /latest asks for the same few pages, so they are kept for
        PAGE_CACHE_SECONDS; this process's own changes clear them at once.
        """
        key, now = (section, limit, offset), time.monotonic()
        cached = self._pages.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self._reads() as session:
            repo = ReviewRepository(session)
            rows = repo.published(section, limit, offset)
            page = Page(tuple(map(ReviewView.of, rows)), offset, repo.count_published(section))
        if len(self._pages) >= PAGE_CACHE_SIZE:
            self._pages.clear()
        self._pages[key] = (page, now + PAGE_CACHE_SECONDS)
        return page

    def catalogue_version(self) -> CatalogueVersion:
        """Count and latest change time over every review (drafts too: a draft that
        becomes published changes both). One aggregate query, no rows read."""
        with self.sessions() as session:
            count, last = session.execute(
                select(func.count(Review.id), func.max(Review.updated_at))
            ).one()
        if isinstance(last, str):  # SQLite returns an aggregate of a TypeDecorator raw
            last = dt.datetime.fromisoformat(last)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        return CatalogueVersion(int(count or 0), last)

    def published_entries(self) -> list[ReviewEntry]:
        """Every published review without its text, in the order of `page` (newest first)."""
        query = (
            select(
                Review.id,
                Review.slug,
                Review.title,
                Review.section,
                Review.tags,
                Review.published_at,
                Review.updated_at,
            )
            .where(Review.status == "published")
            .order_by(
                Review.published_at.desc().nulls_last(),
                Review.paper_date.desc().nulls_last(),
                Review.id,
            )
        )
        with self.sessions() as session:
            return [
                ReviewEntry(
                    row.id,
                    row.slug,
                    row.title,
                    row.section,
                    tuple(row.tags or ()),
                    row.published_at,
                    row.updated_at,
                )
                for row in session.execute(query)
            ]

    def published_by_ids(self, review_ids: Sequence[int]) -> list[ReviewView]:
        """The published ones among `review_ids`, in that order (others are left out)."""
        if not review_ids:
            return []
        with self._reads() as session:
            rows = session.scalars(
                select(Review).where(Review.id.in_(list(review_ids)), Review.status == "published")
            ).all()
            by_id = {row.id: ReviewView.of(row) for row in rows}
        return [by_id[review_id] for review_id in review_ids if review_id in by_id]

    def forget_pages(self) -> None:
        """Call after publishing or changing reviews outside `import_parsed`."""
        self._pages.clear()

    def find(self, reference: str, published_only: bool = True) -> ReviewView | None:
        """A review by numeric id, slug or arXiv id (with or without version or URL).

        Kept per store version, like `find_by_id`: a WeChat reader's `1` opens a review
        of the list by its slug, and most such lookups are of reviews just opened."""
        reference = reference.strip()

        def load(session: Session) -> ReviewView | None:
            repo = ReviewRepository(session)
            row: Review | None = None
            review_id = parse_count(reference)
            if review_id is not None:
                row = repo.get(review_id)
            if row is None:
                row = repo.by_slug(reference.lower())
            arxiv_id = parse_arxiv_id(reference)
            if row is None and arxiv_id:
                row = repo.by_arxiv_id(arxiv_id)
            if row is None or (published_only and row.status != "published"):
                return None
            return ReviewView.of(row)

        return self._versioned(("reference", reference, published_only), load)

    def find_by_id(self, review_id: int, published_only: bool = True) -> ReviewView | None:
        """A review by its database id (what buttons and chat lists carry), kept per
        store version (`_versioned`)."""

        def load(session: Session) -> ReviewView | None:
            row = ReviewRepository(session).get(review_id)
            if row is None or (published_only and row.status != "published"):
                return None
            return ReviewView.of(row)

        return self._versioned(("id", review_id, published_only), load)

    def _versioned(
        self, lookup: tuple[str, int | str, bool], load: Callable[[Session], ReviewView | None]
    ) -> ReviewView | None:
        """What `load` finds, kept per store version (`IndexStore.version_of`: every
        change to any review, by any process, bumps it in its own transaction) and read
        in the same transaction as the version: every `/review N` loaded the whole
        review through the ORM, which cost several times the small query that says
        nothing changed since. A lookup this version already answered opens no session
        (`IndexStore.current_version`)."""
        known = (IndexStore.current_version(self._reads_engine), *lookup)
        kept = self._by_id.get(known, _NOT_KEPT)  # one lookup: another thread may clear
        if kept is not _NOT_KEPT:
            return kept  # type: ignore[return-value]
        with self._reads() as session:
            version = IndexStore.version_of(IndexStore(session.connection()).state())
            key = (version, *lookup)
            kept = self._by_id.get(key, _NOT_KEPT)
            if kept is not _NOT_KEPT:
                return kept  # type: ignore[return-value]
            found = load(session)
        if len(self._by_id) >= BY_ID_CACHE_SIZE or version != self._by_id_version:
            # A new version: what was kept may have changed (keys hold their version,
            # so a read from an older snapshot finishing late is never served as new).
            self._by_id.clear()
            self._by_id_version = version
        self._by_id[key] = found
        return found

    def tag_counts(self) -> list[tuple[str, int]]:
        """Tags of published reviews with how many reviews carry each, most used first."""
        counts: dict[str, int] = {}
        with self.sessions() as session:
            query = select(Review.tags).where(Review.status == "published")
            for tags in session.scalars(query):
                for tag in tags or ():
                    counts[tag] = counts.get(tag, 0) + 1
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def section_counts(self) -> dict[str, int]:
        """Published reviews per section (served from the page cache, like /latest)."""
        return {section: self.page(section, 1).total for section in ("latest", "classic")}

    def all(self) -> list[ReviewView]:
        with self.sessions() as session:
            return [ReviewView.of(row) for row in ReviewRepository(session).all()]

    def count(self) -> int:
        with self.sessions() as session:
            return ReviewRepository(session).count()

    # importing

    def import_files(
        self, paths: list[Path], *, dry_run: bool = False, overwrite: bool = False
    ) -> list[FileReport]:
        """Import each file in its own transaction; a bad file imports nothing of itself.

        A refused file is reported (`file:line: reason`) and the next one is read:
        one bad file in a directory never keeps the others out. Each file is a source
        whose last import is remembered per review (`ReviewImport`), so fields
        corrected in the store since are kept unless `overwrite`. `dry_run` computes
        the same outcomes and changes and writes nothing.
        """
        reports: list[FileReport] = []
        for path in source_files(paths):
            try:
                parsed = read_source(path)
                outcomes = tuple(
                    self.import_parsed(
                        parsed,
                        source=str(path.resolve()),
                        dry_run=dry_run,
                        overwrite=overwrite,
                    )
                )
            except ReviewFormatError as exc:
                reports.append(FileReport(str(path), error=str(exc)))
            except OSError as exc:
                reports.append(FileReport(str(path), error=f"{path}: {exc.strerror or exc}"))
            except SQLAlchemyError as exc:
                # Validation should leave nothing for the store to refuse; if it does,
                # this file's transaction was rolled back and the others still go in.
                log.warning("the store refused %s", path, exc_info=True)
                reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0]
                reports.append(
                    FileReport(str(path), error=f"{path}: the store refused it: {reason}")
                )
            else:
                warnings = tuple(warning for review in parsed for warning in review.warnings)
                reports.append(FileReport(str(path), outcomes, warnings=warnings))
        return reports

    def import_parsed(
        self,
        parsed: list[ParsedReview],
        *,
        source: str | None = None,
        dry_run: bool = False,
        overwrite: bool = True,
    ) -> list[ImportOutcome]:
        """Add or update the parsed reviews in one transaction.

        With a `source` (a file), what it writes is remembered per review and fields
        corrected in the store since its last import are kept unless `overwrite`.
        Without one (an editor's /queue of a draft) the source is the editor's own
        latest word and is applied whole.
        """
        session = self.sessions()
        try:
            session.begin()
            repo = ReviewRepository(session)
            # One timestamp for the whole batch: reviews published together sort by
            # their order in the source, not by microseconds of import time.
            now = utcnow()
            outcomes = [
                self._upsert(repo, review, now, source, overwrite or source is None)
                for review in parsed
            ]
            session.flush()
            result = [
                ImportOutcome(action, ReviewView.of(row), changes)
                for action, row, changes in outcomes
            ]
            if dry_run:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        if not dry_run:
            self.forget_pages()
        return result

    def _upsert(
        self,
        repo: ReviewRepository,
        parsed: ParsedReview,
        now: dt.datetime,
        source: str | None,
        overwrite: bool,
    ) -> tuple[str, Review, tuple[FieldChange, ...]]:
        existing = _same_review(repo, parsed)
        if existing is None:
            review = self._new_review(repo, parsed, now)
            repo.add(review)
            repo.session.flush()
            if source is not None:
                _remember(repo.session, review, source, _stated(review, parsed), now)
            return "added", review, ()
        record = _last_import(repo.session, existing.id, source) if source else None
        changes, stated = _apply(existing, parsed, repo, now, record, overwrite)
        if source is not None:
            _remember(repo.session, existing, source, stated, now)
        changed = any(change.applied for change in changes)
        if changed:
            existing.content_hash = content_hash(existing)
            existing.updated_at = now
        return ("updated" if changed else "unchanged"), existing, tuple(changes)

    def _new_review(self, repo: ReviewRepository, parsed: ParsedReview, now: dt.datetime) -> Review:
        slug = _unique_slug(repo, parsed.slug or make_slug(parsed.title, parsed.arxiv_id))
        status = parsed.status or "published"
        # No `announced_at`: what an import brings in already published is back
        # catalogue, never pushed unless an editor asks (`paperbot push --include`).
        # A queued review is announced when the push publishes it.
        review = Review(
            slug=slug,
            title=parsed.title,
            arxiv_id=parsed.arxiv_id,
            paper_url=parsed.paper_url,
            authors=parsed.authors or "",
            paper_date=parsed.paper_date.value if parsed.paper_date else None,
            paper_date_precision=parsed.paper_date.precision if parsed.paper_date else None,
            section=parsed.section or "latest",
            tags=parsed.tags or [],
            body=parsed.body,
            summary=parsed.summary if parsed.summary is not None else derive_summary(parsed.body),
            status=status,
            publish_at=parsed.publish_at,
            published_at=parsed.published_at or (now if status == "published" else None),
            created_at=now,
            updated_at=now,
        )
        review.content_hash = content_hash(review)
        return review

    # the editors' queue

    def stage(self, parsed: ParsedReview, publish_at: dt.datetime | None) -> ImportOutcome:
        """Store a review from an editor as a draft, to be confirmed into the queue.

        `publish_at` None means "with the next push" (any push publishes it), so it is
        written even over an earlier draft's time. Refuses to touch a review readers
        already have (`ReviewStateError`): a published review changes through
        `paperbot import`, deliberately.
        """
        with self.sessions() as session:
            existing = _same_review(ReviewRepository(session), parsed)
            if existing is not None and existing.status == "published":
                raise ReviewStateError(
                    f"#{existing.id} {existing.title!r} is already published",
                    review_id=existing.id,
                    status="published",
                    title=existing.title,
                )
        parsed.status, parsed.publish_at, parsed.published_at = "draft", publish_at, None
        [outcome] = self.import_parsed([parsed])
        if outcome.review.publish_at != publish_at:  # an import keeps unstated fields
            with self.sessions.begin() as session:
                row = session.get(Review, outcome.review.id)
                assert row is not None
                row.publish_at = publish_at
                outcome = ImportOutcome(outcome.action, ReviewView.of(row))
        return outcome

    def set_status(self, review_id: int, status: str, *, expected: tuple[str, ...]) -> ReviewView:
        """Move a review between draft, queued and published, from an expected state."""
        now = utcnow()
        with self.sessions.begin() as session:
            row = session.get(Review, review_id, with_for_update=True)
            if row is None:
                raise ReviewStateError(f"no review #{review_id}", review_id=review_id)
            if row.status not in expected:
                raise ReviewStateError(
                    f"#{review_id} is {row.status}, not {' or '.join(expected)}",
                    review_id=review_id,
                    status=row.status,
                    expected=tuple(expected),
                    title=row.title,
                )
            row.status, row.updated_at = status, now
            if status == "published":
                # An editor's publish: due to every subscriber at the next push.
                row.published_at = row.announced_at = now
            view = ReviewView.of(row)
        self.forget_pages()
        return view

    def announce(self, review_ids: list[int]) -> list[ReviewView]:
        """An editor asks for published reviews (say, from the back catalogue, which an
        import never pushes) to go to every current subscriber who has not had them."""
        now = utcnow()
        with self.sessions.begin() as session:
            rows = []
            for review_id in review_ids:
                row = session.get(Review, review_id, with_for_update=True)
                if row is None:
                    raise ReviewStateError(f"no review #{review_id}", review_id=review_id)
                if row.status != "published":
                    raise ReviewStateError(
                        f"#{review_id} is {row.status}, not published "
                        f"(`paperbot publish {review_id}` publishes and pushes it)",
                        review_id=review_id,
                        status=row.status,
                        expected=("published",),
                        title=row.title,
                    )
                row.announced_at = now
                rows.append(ReviewView.of(row))
            return rows

    def discard_draft(self, review_id: int) -> bool:
        with self.sessions.begin() as session:
            row = session.get(Review, review_id)
            if row is None or row.status != "draft":
                return False
            session.delete(row)
            return True

    def in_queue(self) -> list[ReviewView]:
        """Drafts and queued reviews, the soonest first."""
        with self.sessions() as session:
            rows = session.scalars(
                select(Review)
                .where(Review.status.in_(("draft", "queued")))
                .order_by(Review.publish_at.asc().nulls_last(), Review.id)
            ).all()
            return [ReviewView.of(row) for row in rows]

    # exporting and seeding

    def export(self, directory: Path) -> list[Path]:
        """Write every review to `directory/<slug>.md`.

        A slug is a file name here, so one that could name a file elsewhere
        (`../x`, `/etc/x`, `a/b`) refuses the whole export before anything is
        written (`UnsafeSlugError`); import never makes such slugs.
        """
        reviews = self.all()
        unsafe = [review for review in reviews if not _safe_file_slug(review.slug)]
        if unsafe:
            named = ", ".join(f"#{review.id} {review.slug!r}" for review in unsafe[:5])
            raise UnsafeSlugError(
                f"{len(unsafe)} review(s) have a slug that is not a safe file name: {named}; "
                "fix them (a-z, 0-9 and '-') before exporting"
            )
        directory.mkdir(parents=True, exist_ok=True)
        root = directory.resolve()
        written = []
        for review in reviews:
            path = directory / f"{review.slug}.md"
            if path.resolve().parent != root:  # e.g. a symlink planted in the directory
                raise UnsafeSlugError(f"{path} would be written outside {directory}")
            path.write_text(review_to_front_matter(review), encoding="utf-8")
            written.append(path)
        return written

    def seed_if_empty(self, content_dir: Path) -> list[FileReport]:
        """Fill an empty store from `content/`; a store with reviews is left alone.

        An empty store with no reviews to seed from (an install without its packaged
        `content/`, a wrong CONTENT_DIR) is said loudly: the bot would answer every
        reader "nothing yet" without anyone knowing why.
        """
        if self.count() > 0:
            return []
        if not content_dir.is_dir() or not source_files([content_dir]):
            log.error(
                "NO REVIEWS TO SEED: %s has no reviews, the store stays empty; set "
                "CONTENT_DIR to the column's content/ or run `paperbot import PATH`",
                content_dir,
            )
            return []
        reports = self.import_files([content_dir])
        for report in reports:
            if report.error:
                log.error("seed file refused: %s", report.error)
        log.info("seeded %d reviews from %s", sum(len(r.outcomes) for r in reports), content_dir)
        return reports


def _same_review(repo: ReviewRepository, parsed: ParsedReview) -> Review | None:
    """The stored review the source is about, or None for a new one.

    By arXiv id first. A slug is only a match when the source says it is this
    review: it names the slug itself (`slug:` in front matter, as `export`
    writes), or its derived slug (possibly suffixed, `-2`) belongs to a review of
    the very same title. Two reviews whose titles share their first 40 characters
    derive one slug; that alone must not make the second overwrite the first.
    """
    if parsed.arxiv_id:
        found = repo.by_arxiv_id(parsed.arxiv_id)
        if found is not None:
            return found

    def compatible(row: Review) -> bool:
        return not parsed.arxiv_id or row.arxiv_id in (None, parsed.arxiv_id)

    if parsed.slug:
        named = repo.by_slug(parsed.slug)
        return named if named is not None and compatible(named) else None
    base = make_slug(parsed.title, parsed.arxiv_id)
    for row in repo.with_slug_family(base):
        if row.title == parsed.title and compatible(row):
            return row
    return None


def _safe_file_slug(slug: str) -> bool:
    return SLUG_PATTERN.fullmatch(slug) is not None


def _unique_slug(repo: ReviewRepository, slug: str, except_id: int | None = None) -> str:
    candidate, counter = slug, 2
    while repo.slug_taken(candidate, except_id):
        candidate = f"{slug[:60]}-{counter}"
        counter += 1
    return candidate


def _as_json(value: Any) -> Any:
    """A field's value as an import record stores it (dates as ISO text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _last_import(session: Session, review_id: int, source: str) -> dict[str, Any] | None:
    record = session.scalar(
        select(ReviewImport).where(
            ReviewImport.review_id == review_id, ReviewImport.source == source
        )
    )
    return dict(record.fields) if record is not None else None


def _remember(
    session: Session, review: Review, source: str, stated: dict[str, Any], now: dt.datetime
) -> None:
    """Record what this source says of this review (its values, applied or kept)."""
    record = session.scalar(
        select(ReviewImport).where(
            ReviewImport.review_id == review.id, ReviewImport.source == source
        )
    )
    if record is None:
        session.add(
            ReviewImport(review_id=review.id, source=source, fields=stated, imported_at=now)
        )
    else:
        record.fields, record.imported_at = {**record.fields, **stated}, now


def _stated(review: Review, parsed: ParsedReview) -> dict[str, Any]:
    """A new review's protected fields, as its source wrote them."""
    return {name: _as_json(getattr(review, name)) for name in PROTECTED_FIELDS}


def _apply(
    row: Review,
    parsed: ParsedReview,
    repo: ReviewRepository,
    now: dt.datetime,
    record: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> tuple[list[FieldChange], dict[str, Any]]:
    """Copy what the source states onto the row; fields it does not state are kept.

    A protected field whose stored value is not what this source last wrote
    (`record`; None: it never wrote this review) was corrected in the store since:
    it is kept unless `overwrite`. Returns the changes (applied or kept) and the
    protected values the source states, for the next import's record.
    """
    wanted: dict[str, Any] = {"title": parsed.title, "body": parsed.body}
    if parsed.slug and parsed.slug != row.slug:
        wanted["slug"] = _unique_slug(repo, parsed.slug, except_id=row.id)
    if parsed.arxiv_id:
        wanted["arxiv_id"] = parsed.arxiv_id
    if parsed.paper_url:
        wanted["paper_url"] = parsed.paper_url
    if parsed.authors is not None:
        wanted["authors"] = parsed.authors
    if parsed.paper_date is not None:
        wanted["paper_date"] = parsed.paper_date.value
        wanted["paper_date_precision"] = parsed.paper_date.precision
    if parsed.section is not None:
        wanted["section"] = parsed.section
    if parsed.tags is not None:
        wanted["tags"] = parsed.tags
    if parsed.summary is not None:
        wanted["summary"] = parsed.summary
    elif row.summary in ("", derive_summary(row.body)) or is_lead_in(row.summary):
        # The summary was derived from the body, so it follows the body; an editor's
        # own summary is kept when a source without one is imported.
        wanted["summary"] = derive_summary(parsed.body)
    for name in ("status", "publish_at", "published_at"):
        if getattr(parsed, name) is not None:
            wanted[name] = getattr(parsed, name)
    if wanted.get("status") == "published" and row.published_at is None:
        wanted.setdefault("published_at", now)
    stated = {name: _as_json(value) for name, value in wanted.items() if name in PROTECTED_FIELDS}
    changes: list[FieldChange] = []
    for name, value in wanted.items():
        current = getattr(row, name)
        if current == value:
            continue
        corrected = (record or {}).get(name, _MISSING) != _as_json(current)
        if name in PROTECTED_FIELDS and corrected and not overwrite:
            changes.append(FieldChange(name, current, value, applied=False))
            continue
        setattr(row, name, value)
        changes.append(FieldChange(name, current, value, applied=True))
    return changes, stated


def review_to_front_matter(review: ReviewView) -> str:
    fields: dict[str, Any] = {
        "title": review.title,
        "slug": review.slug,
        "arxiv_id": review.arxiv_id or review.paper_url,
        "authors": review.authors or None,
        "date": review.paper_date.iso() if review.paper_date else None,
        "section": review.section,
        "tags": list(review.tags),
        "status": review.status,
        "publish_at": review.publish_at.isoformat() if review.publish_at else None,
        "published_at": review.published_at.isoformat() if review.published_at else None,
        "summary": review.summary,
    }
    return to_front_matter(fields, review.body)
