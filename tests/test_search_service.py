"""The search use case (bot/core/search/service.py): pages, bounds, published reviews
only, the relaxed retry, and alias editing as the next search sees it. Real stores on
both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Core
from bot.core.search import SearchService
from bot.core.search import ranker as ranker_module
from bot.core.search.ranker import MAX_RESULTS
from bot.core.search_index import CHANGES_KEY, IndexStore
from bot.db.engine import make_engine, make_session_factory, read_only
from bot.db.models import Review
from tests.test_search import load, write_review


def load_numbered(core: Core, tmp_path: Path, count: int) -> None:
    load(
        core,
        *(
            write_review(tmp_path, f"r{n:02d}", title=f"Hummingbird {n}", body="蜂鸟的飞行。")
            for n in range(count)
        ),
    )


def test_pages_cover_every_result_once(core: Core, tmp_path: Path) -> None:
    load_numbered(core, tmp_path, 7)
    first = core.search.search("hummingbird", limit=3)
    second = core.search.search("hummingbird", limit=3, offset=3)
    last = core.search.search("hummingbird", limit=3, offset=6)
    assert (first.total, first.offset, first.has_more) == (7, 0, True)
    assert second.has_more and not last.has_more
    seen = [item.slug for page in (first, second, last) for item in page.items]
    assert sorted(seen) == [f"r{n:02d}" for n in range(7)]
    assert len(last.items) == 1
    assert core.search.search("hummingbird", limit=3, offset=9).items == ()


def test_limits_and_offsets_are_kept_in_bounds(core: Core, tmp_path: Path) -> None:
    load_numbered(core, tmp_path, 3)
    assert len(core.search.search("hummingbird", limit=0).items) == 1
    assert len(core.search.search("hummingbird", limit=1000).items) == 3
    page = core.search.search("hummingbird", limit=2, offset=-5)
    assert page.offset == 0 and len(page.items) == 2
    beyond = core.search.search("hummingbird", offset=MAX_RESULTS)
    assert (beyond.items, beyond.total) == ((), 0)


def test_an_empty_or_filler_only_query_finds_nothing(core: Core, tmp_path: Path) -> None:
    load_numbered(core, tmp_path, 2)
    for query in ("", "   ", "有没有讲的论文", "which paper"):
        page = core.search.search(query)
        assert (page.items, page.total, page.query) == ((), 0, query)


def test_only_published_reviews_are_found(core: Core, tmp_path: Path) -> None:
    load(
        core,
        write_review(tmp_path, "out", title="Hummingbird Flight", body="蜂鸟。"),
        write_review(tmp_path, "draft", title="Hummingbird Draft", body="蜂鸟。", status="draft"),
    )
    page = core.search.search("hummingbird")
    assert [item.slug for item in page.items] == ["out"] and page.total == 1


def test_a_query_that_finds_nothing_as_written_is_retried_relaxed(
    core: Core, tmp_path: Path
) -> None:
    """No review has 对齐效果好 as written; the retry splits it into 对齐 / 效果 / 好 and
    needs half of them: the review about 对齐 and 效果 is found, one about neither not."""
    load(
        core,
        write_review(tmp_path, "align", title="对齐方法", body="对齐的效果很明显。"),
        write_review(tmp_path, "other", title="蜂鸟", body="飞行。"),
    )
    assert [item.slug for item in core.search.search("对齐效果好").items] == ["align"]


def test_aliases_edited_through_the_service_apply_to_the_next_search(
    core: Core, tmp_path: Path
) -> None:
    load(core, write_review(tmp_path, "bird", title="蜂鸟模型", body="一个小模型。"))
    assert core.search.search("hummingbird").total == 0
    assert core.search.add_aliases("蜂鸟模型", ["hummingbird"]) == ["蜂鸟模型", "hummingbird"]
    assert [item.slug for item in core.search.search("hummingbird").items] == ["bird"]
    assert ["蜂鸟模型", "hummingbird"] in core.search.list_aliases()
    # Taking one of two terms out removes the group; an unknown term says None.
    assert core.search.remove_alias("hummingbird") == []
    assert ["蜂鸟模型", "hummingbird"] not in core.search.list_aliases()
    assert core.search.remove_alias("hummingbird") is None
    assert core.search.search("hummingbird").total == 0


def test_another_service_on_the_same_store_sees_the_aliases(core: Core, tmp_path: Path) -> None:
    """The alias table lives in the database: a second service (another process, the
    CLI) starting afterwards finds what the first one stored."""
    load(core, write_review(tmp_path, "bird", title="蜂鸟模型", body="一个小模型。"))
    core.search.add_aliases("hummingbird", ["蜂鸟模型"])
    other = SearchService(core.sessions)
    assert [item.slug for item in other.search("hummingbird").items] == ["bird"]


# --- what the service remembers between searches (bot/core/search/cache.py) ------------


def _other_process(core: Core) -> sessionmaker[Session]:
    """Sessions on an engine of their own: what another replica or the CLI writes with."""
    return make_session_factory(make_engine(core.settings.database_url))


def test_a_repeated_search_is_answered_from_memory_until_a_review_changes(
    core: Core, tmp_path: Path
) -> None:
    load_numbered(core, tmp_path, 4)
    first = core.search.search("hummingbird", limit=2)
    hits = core.search.results.pages.hits
    # Spelled differently, normalised the same: one answer, with the caller's query.
    again = core.search.search("  hummingbird\x00 ", limit=2)
    assert core.search.results.pages.hits == hits + 1
    assert again.items == first.items and again.total == first.total
    assert again.query == "  hummingbird\x00 "
    # Asked as first written again: the remembered page itself, the first query on it.
    same = core.search.search("hummingbird", limit=2)
    assert same is first
    assert core.search.results.pages.hits == hits + 2
    # Another page or size is another answer.
    assert core.search.search("hummingbird", limit=2, offset=2).items != first.items
    assert core.search.results.pages.hits == hits + 2

    # Another process changes a field the index does not hold (the section): the next
    # search here reads the review again, it does not serve the remembered one.
    other = _other_process(core)
    with other.begin() as session:
        row = session.get(Review, first.items[0].id)
        assert row is not None
        row.section = "classic"
    changed = core.search.search("hummingbird", limit=2)
    assert changed.items[0].section == "classic"
    assert core.search.results.pages.hits == hits + 2

    # And one it does hold: a new title is found by the next search.
    with other.begin() as session:
        row = session.get(Review, first.items[1].id)
        assert row is not None
        row.title = "Kingfisher"
    assert core.search.search("kingfisher").total == 1
    assert core.search.search("hummingbird", limit=2).total == 3
    # A failed transaction changes nothing; the answer is remembered again.
    with other() as session:
        row = session.get(Review, first.items[0].id)
        assert row is not None
        row.title = "Never Committed"
        session.flush()
        session.rollback()
    hits = core.search.results.pages.hits
    core.search.search("hummingbird", limit=2)
    assert core.search.results.pages.hits == hits + 1


def test_a_remembered_answer_opens_no_transaction(core: Core, tmp_path: Path) -> None:
    """A search or `/review N` already answered for this version of the store reads only
    the version, in one statement on a DBAPI connection: no session or transaction is
    begun (their machinery cost most of such an answer). A change is still seen at once
    (the tests above)."""
    load_numbered(core, tmp_path, 3)
    first = core.search.search("hummingbird")
    review_id, slug = first.items[0].id, first.items[0].slug
    assert core.reviews.find_by_id(review_id) is not None
    assert core.reviews.find(slug) is not None
    begun: list[object] = []

    def on_begin(connection: object) -> None:
        begun.append(connection)

    engines = {core.sessions.kw["bind"], read_only(core.sessions.kw["bind"])}
    for engine in engines:
        event.listen(engine, "begin", on_begin)
    try:
        assert core.search.search("hummingbird").items == first.items
        found = core.reviews.find_by_id(review_id)
        assert core.reviews.find(f" {slug} ") == found
        assert begun == []
        # A query not answered before does begin one (the listener sees it).
        core.search.search("hummingbird 2")
        assert begun
    finally:
        for engine in engines:
            event.remove(engine, "begin", on_begin)
    assert found is not None and found.id == review_id
    # Another process takes it back to a draft: both lookups see it at once.
    with _other_process(core).begin() as session:
        row = session.get(Review, review_id)
        assert row is not None
        row.status = "draft"
    assert core.reviews.find(slug) is None
    assert core.reviews.find_by_id(review_id) is None


def test_publishing_in_another_process_shows_in_the_next_search(core: Core, tmp_path: Path) -> None:
    load(
        core,
        write_review(tmp_path, "out", title="Hummingbird Flight", body="蜂鸟。"),
        write_review(tmp_path, "later", title="Hummingbird Later", body="蜂鸟。", status="draft"),
    )
    assert [item.slug for item in core.search.search("hummingbird").items] == ["out"]
    with _other_process(core).begin() as session:
        row = session.scalars(select(Review).where(Review.slug == "later")).one()
        row.status, row.published_at = "published", row.updated_at
    found = core.search.search("hummingbird")
    assert sorted(item.slug for item in found.items) == ["later", "out"]


def test_index_reads_from_memory_rank_as_a_fresh_service_does(core: Core, tmp_path: Path) -> None:
    """Queries sharing words are ranked from remembered index reads; a service with
    nothing remembered gives the same pages, in the same order."""
    words = ["蜂鸟", "飞行", "对齐", "模型", "翅膀"]
    load(
        core,
        *(
            write_review(
                tmp_path,
                f"r{n:02d}",
                title=f"{words[n % 5]}{words[(n * 3) % 5]} study {n}",
                body="。".join(words[(n + k) % 5] * (1 + (n + k) % 3) for k in range(n % 4 + 1)),
                tags=(words[(n * 2) % 5],),
            )
            for n in range(30)
        ),
    )
    queries = [f"{a} {b}" for a in words for b in words if a != b] + words + ["study 7"]
    for query in queries:
        core.search.search(query, limit=5)
    assert core.search.index.heads.hits > 0 and core.search.index.bodies.hits > 0
    for query in queries:
        for offset in (0, 5):
            remembered = core.search.search(query, limit=5, offset=offset)
            fresh = SearchService(core.sessions).search(query, limit=5, offset=offset)
            assert remembered == fresh, query


def test_the_change_counter_counts_commits_that_change_reviews(core: Core, tmp_path: Path) -> None:
    def counter() -> int:
        with core.sessions() as session:
            return IndexStore(session.connection()).state().get(CHANGES_KEY, 0)

    load_numbered(core, tmp_path, 2)
    before = counter()
    with core.sessions.begin() as session:
        row = session.scalars(select(Review).limit(1)).one()
        row.summary = "新的摘要。"
        session.get(Review, row.id + 1)  # read, not changed
    assert counter() == before + 1
    with core.sessions.begin() as session:
        session.scalars(select(Review)).all()  # nothing changed: nothing counted
    assert counter() == before + 1


def test_a_next_page_read_from_the_first_pages_ranking_is_a_fresh_services(
    core: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`下一页` reuses the first page's ranking where ranking again would return the same
    list (`Ranker.same_for`), and ranks again where the common terms' body scan, whose
    LIMIT is the number of results needed, would read further: either way each page is
    what a service with nothing remembered answers."""
    # 蜂鸟 is "common" (no body scan of its own) and only the newest 12 reviews are
    # looked up by body: the first page (needed 6) and the second (needed 11) scan with
    # different LIMITs; 翅膀 is in titles, found by the head alone.
    monkeypatch.setattr(ranker_module, "BODY_SCAN_MAX_DF", 1)
    monkeypatch.setattr(ranker_module, "BODY_WINDOW", 12)
    load(
        core,
        *(
            write_review(
                tmp_path,
                f"r{n:02d}",
                title=f"翅膀 study {n}" if n % 3 == 0 else f"Paper {n}",
                body="正文里有蜂鸟。" * (1 + n % 3),
            )
            for n in range(20)
        ),
    )
    for query in ("蜂鸟", "翅膀", "翅膀 study", "蜂鸟 翅膀"):
        remembered = [core.search.search(query, limit=5, offset=o) for o in (0, 5, 10, 0)]
        for offset, page in zip((0, 5, 10, 0), remembered, strict=True):
            assert page == SearchService(core.sessions).search(query, limit=5, offset=offset)
    # A ranking that holds for a larger `needed` served the next page from memory.
    assert core.search.results.rankings.hits > 0
