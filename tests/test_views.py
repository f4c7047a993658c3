"""Review lists and full reviews are remembered by value (bot/core/views.py): the same
arguments give the same page, and any change to a review, its place or the language
gives a page built from the new values, never a remembered one."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from bot.core.reviews import ReviewView
from bot.core.sources import PaperDate
from bot.core.views import review_full, review_list


def _review(review_id: int, title: str) -> ReviewView:
    return ReviewView(
        id=review_id, slug=f"r{review_id}", title=title, arxiv_id="2305.11206",
        authors="Chunting Zhou等", paper_date=PaperDate(dt.date(2023, 5, 18), "day"),
        section="latest", tags=("对齐",), summary="少量高质量数据足以对齐。",
        body="## 方法\n\n正文 **粗体**。", status="published", publish_at=None,
        published_at=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    )  # fmt: skip


def test_a_page_asked_again_is_the_page_remembered() -> None:
    reviews = (_review(1, "LIMA"), _review(2, "DPO"))
    first = review_list("最新", reviews, 0, 7, "zh", "p:latest:2", 2)
    # Equal values, built anew (as a store read builds them): the same page.
    again = review_list("最新", tuple(replace(r) for r in reviews), 0, 7, "zh", "p:latest:2", 2)
    assert again is first
    assert [b.action for b in first.buttons[0]] == ["r:1", "r:2"]
    assert [b.action for b in first.buttons[1]] == ["p:latest:2:2"]


def test_any_change_gives_a_page_of_the_new_values() -> None:
    reviews = (_review(1, "LIMA"), _review(2, "DPO"))
    first = review_list("最新", reviews, 0, 7, "zh", "p:latest:2", 2)
    retitled = (reviews[0], replace(reviews[1], title="KTO"))
    changed = review_list("最新", retitled, 0, 7, "zh", "p:latest:2", 2)
    assert "KTO" in changed.body.plain_text and "DPO" not in changed.body.plain_text
    assert "DPO" in first.body.plain_text
    # The page's place, its total and the language are part of what is remembered too.
    later = review_list("最新", reviews, 2, 7, "zh", "p:latest:2", 2)
    assert [b.action for b in later.buttons[0]] == ["r:1", "r:2"]
    assert [b.action for b in later.buttons[1]] == ["p:latest:2:0", "p:latest:2:4"]
    last = review_list("最新", reviews, 0, 2, "zh", "p:latest:2", 2)
    assert len(last.buttons) == 1
    english = review_list("Latest", reviews, 0, 7, "en", "p:latest:2", 2)
    assert "18 May 2023" in english.body.plain_text
    assert "2023年5月18日" in first.body.plain_text


def test_a_full_review_is_remembered_by_its_values_and_number() -> None:
    review = _review(1, "LIMA")
    first = review_full(review, "zh", 3)
    assert review_full(replace(review), "zh", 3) is first
    assert first.body.blocks[0].plain_text == "3. LIMA"
    assert review_full(review, "zh").body.blocks[0].plain_text == "LIMA"
    edited = review_full(replace(review, body="## 方法\n\n改过的正文。"), "zh", 3)
    assert "改过的正文。" in edited.body.plain_text
    assert "改过的正文。" not in first.body.plain_text
