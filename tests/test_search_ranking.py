"""Ranking (bot/core/search/ranker.py, search_index.doc_terms): term frequency and field
prominence, adjacency, the title/tags tie-break, and queries most of which no review
mentions. Real stores on both backends, reviews written for each case."""

from __future__ import annotations

from pathlib import Path

from test_search import load, slugs, write_review

from bot.app import Core
from bot.core.search import Group, Ranker
from bot.core.search_index import decode_weight, doc_terms, encode_weight


def test_the_review_about_a_term_outranks_one_that_mentions_it(core: Core, tmp_path: Path) -> None:
    """The review about RLHF (older) says it in its tags, summary and several spellings;
    the newer one mentions it once, as what it avoids. Recency used to decide."""
    load(
        core,
        write_review(
            tmp_path,
            "about",
            title="Training with Feedback",
            tags=("RLHF", "对齐"),
            summary="用 RLHF 训练：人类反馈强化学习先训练奖励模型，RLHF 再用 PPO 优化策略。",
            body="人类反馈强化学习（RLHF）的三个阶段。",
        ),
        write_review(
            tmp_path,
            "avoids",
            title="Skipping the Reward Model",
            tags=("对齐",),
            summary="这种方法不需要 RLHF，直接在偏好数据上训练。",
            body="与 RLHF 相比更简单。",
        ),
    )
    assert slugs(core, "RLHF")[0] == "about"
    assert slugs(core, "人类反馈强化学习")[0] == "about"


def test_a_term_repeated_in_a_field_counts_with_saturation() -> None:
    once = doc_terms(title="", arxiv_id=None, authors="", tags=(), summary="蜂鸟 飞", body="")
    twice = doc_terms(title="", arxiv_id=None, authors="", tags=(), summary="蜂鸟 蜂鸟", body="")
    many = doc_terms(title="", arxiv_id=None, authors="", tags=(), summary="蜂鸟 " * 20, body="")
    values = [decode_weight(terms.head["蜂鸟"])[0] for terms in (once, twice, many)]
    assert values[0] < values[1] < values[2] < 4 * 2.2  # W_SUMMARY x (k1 + 1)
    titled = doc_terms(title="蜂鸟", arxiv_id=None, authors="", tags=(), summary="", body="")
    assert decode_weight(titled.head["蜂鸟"])[1] is True
    assert decode_weight(once.head["蜂鸟"])[1] is False


def test_the_stored_weight_orders_by_value_first() -> None:
    assert encode_weight(4.0, True) < encode_weight(4.1, False)
    assert decode_weight(encode_weight(9.3, True)) == (9.3, True)


def test_words_written_together_beat_the_same_words_apart(core: Core, tmp_path: Path) -> None:
    """AI反馈 lost to a review with "Meta AI" in its authors and 反馈 in its body."""
    load(
        core,
        write_review(
            tmp_path, "cai", title="Harmless Assistants", tags=("AI反馈", "无害性"), body="原则。"
        ),
        write_review(
            tmp_path,
            "meta",
            title="Open Models",
            authors="Hugo Touvron等 (Meta AI)",
            tags=("反馈",),
            body="用户反馈很多。",
        ),
    )
    assert slugs(core, "AI反馈")[0] == "cai"
    assert slugs(core, "有没有讲AI反馈的论文")[0] == "cai"


def test_equal_scores_prefer_the_title_or_tags_before_recency(core: Core) -> None:
    with core.sessions() as session:
        from bot.core.search_index import IndexStore

        ranker = Ranker(IndexStore(session.connection()))
        group = Group("x", [])
        head = {id(group): {1: 2.0, 2: 2.0}}
        body: dict[int, dict[int, float]] = {id(group): {}}
        order = ranker._score([group], [1.0], head, body, {id(group): {1}}, 1, 1)
        assert order == [1, 2]  # review 2 is newer, but review 1 carries the term
        order = ranker._score([group], [1.0], head, body, {id(group): set()}, 1, 1)
        assert order == [2, 1]


def test_queries_mostly_about_what_no_review_mentions_find_nothing(
    core: Core, tmp_path: Path
) -> None:
    load(
        core,
        write_review(tmp_path, "alf", title="Agents in ALFWorld", body="论文讨论了模型的训练。"),
    )
    assert core.search.search("football world cup").total == 0
    assert core.search.search("有没有讲区块链的论文").total == 0
    assert core.search.search("宠物狗怎么训练").total == 0
    assert slugs(core, "world") == ["alf"]
    assert slugs(core, "有没有讲训练的论文") == ["alf"]
