"""The search use case (bot/core/search/service.py): pages, bounds, published reviews
only, the relaxed retry, and alias editing as the next search sees it. Real stores on
both backends."""

from __future__ import annotations

from pathlib import Path

from bot.app import Core
from bot.core.search import SearchService
from bot.core.search.ranker import MAX_RESULTS
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
