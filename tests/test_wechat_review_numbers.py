"""`/review N` on WeChat opens item N of the numbered list the reader last saw (as a bare
`N` does, and as `/review N` does on Telegram), not review id N; with no such item, N
is an id or a slug as before. Through the real `/wechat` callback path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.reviews import ReviewView
from tests.test_wechat_channel import PUBLIC, READER, Served, serving

OTHER = "o6_bmjrPTlm6_2sgVt7hMZOPfL2X"


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[Served]:
    with serving(tmp_path, sqlite_url) as running:
        yield running


def _paged(served: Served) -> tuple[str, list[ReviewView]]:
    """A query with a second page, and its first ten results."""
    for query in ("语言模型", "模型", "训练"):
        found = served.core.search.search(query, 10)
        if found.total > 5:
            return query, list(found.items)
    raise AssertionError("no query with a second page in the test store")


def _position_not_its_id(items: list[ReviewView], start: int = 1) -> int:
    """A list number whose review is not the review with that id (else the test could
    not tell a list item from an id)."""
    for number in range(start, len(items) + 1):
        if items[number - 1].id != number:
            return number
    raise AssertionError("every list position equals its review's id")


def _opened(served: Served, openid: str, text: str) -> str:
    answer = served.client.send(openid, text)
    assert answer.msg_type == "news", answer.xml
    (article,) = answer.articles
    return str(article["Url"])


def test_review_n_after_a_list_opens_that_list_item(served: Served) -> None:
    query, items = _paged(served)
    number = _position_not_its_id(items[:5])
    by_id = served.core.reviews.find(str(number))
    listed = served.client.send(READER, query)
    assert "回复 1" in listed.content, listed.content

    opened = _opened(served, READER, f"/review {number}")
    assert opened == f"{PUBLIC}/r/{items[number - 1].slug}"
    assert by_id is None or opened != f"{PUBLIC}/r/{by_id.slug}"
    # The same as answering with the bare number.
    assert _opened(served, READER, str(number)) == opened


def test_earlier_pages_of_the_list_still_count(served: Served) -> None:
    """On page 2 the choices are 6–10; `/review 2` is still item 2 of that list (the
    chat's list), `/review 7` item 7."""
    query, items = _paged(served)
    served.client.send(READER, query)
    paged = served.client.send(READER, "下一页")
    assert "6." in paged.content, paged.content
    first = _position_not_its_id(items[:5])
    assert _opened(served, READER, f"/review {first}") == f"{PUBLIC}/r/{items[first - 1].slug}"
    if len(items) >= 7:
        assert _opened(served, READER, "/review 7") == f"{PUBLIC}/r/{items[6].slug}"


def test_without_a_list_the_number_is_an_id_and_a_slug_still_works(served: Served) -> None:
    review = served.core.search.search("Chain-of-Thought", 1).items[0]
    assert _opened(served, OTHER, f"/review {review.id}") == f"{PUBLIC}/r/{review.slug}"
    assert _opened(served, OTHER, f"/review {review.slug}") == f"{PUBLIC}/r/{review.slug}"
    # After a list, a slug is still the slug, not a list item.
    query, _ = _paged(served)
    served.client.send(OTHER, query)
    assert _opened(served, OTHER, f"/review {review.slug}") == f"{PUBLIC}/r/{review.slug}"


def test_a_number_beyond_the_list_and_the_ids_is_missing(served: Served) -> None:
    query, _ = _paged(served)
    served.client.send(READER, query)
    answer = served.client.send(READER, "/review 999")
    assert answer.msg_type == "text" and "找不到解读「999」" in answer.content, answer.content
