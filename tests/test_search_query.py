"""The query parser: jieba segmentation, question and filler words, particles, the
relaxed retry (bot/core/search/segment.py, query.py). No database needed."""

from __future__ import annotations

import pytest

from bot.core.search import AliasMatcher, parse_query, relaxed
from bot.core.search.segment import content_pieces, words

ALIASES = AliasMatcher(
    [
        ("RLHF", 1),
        ("基于人类反馈的强化学习", 1),
        ("混合专家", 2),
        ("MoE", 2),
        ("量化", 3),
        ("quantization", 3),
    ]
)


def labels(query: str) -> list[str]:
    return [group.label for group in parse_query(query, ALIASES) if not group.bonus]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("有没有讲推理加速的论文", ["推理加速"]),
        ("哪篇讲位置编码", ["位置编码"]),
        ("什么是思维链", ["思维链"]),
        ("有哪些讲混合专家模型的文章", ["混合专家模型"]),
        ("有没有讲Transformer替代架构的", ["Transformer", "替代架构"]),
        ("替代架构的", ["替代架构"]),  # the trailing particle goes
        ("关于对齐的解读", ["对齐"]),
        ("which paper is about rotary position embedding", ["rotary", "position", "embedding"]),
        ("is there a review about mixture of experts", ["mixture", "experts"]),
    ],
)
def test_question_and_filler_words_are_dropped(query: str, expected: list[str]) -> None:
    found = labels(query)
    if query == "有哪些讲混合专家模型的文章":
        [group] = parse_query(query, ALIASES)
        assert group.split is not None and [g.label for g in group.split] == ["混合专家", "模型"]
        return
    assert found == expected


@pytest.mark.parametrize(
    "query",
    [
        "论文",
        "有没有论文",
        "哪篇文章",
        "什么是",
        "的",
        "解读",
        "请推荐几篇论文",
        "这篇论文讲了什么",
    ],
)
def test_filler_words_alone_ask_for_nothing(query: str) -> None:
    assert parse_query(query, ALIASES) == []


def test_english_fillers_alone_stay_a_query() -> None:
    """A query of nothing but English filler words is kept as typed (it finds what it
    finds); only next to content words are they dropped."""
    assert labels("paper review") == ["paper", "review"]
    assert labels("any paper about DPO") == ["DPO"]
    assert labels("paper 对齐") == ["对齐"]


def test_an_alias_that_holds_a_filler_character_stays_whole() -> None:
    [group] = parse_query("基于人类反馈的强化学习", ALIASES)
    assert group.label == "基于人类反馈的强化学习"
    assert any(alternative.kind == "alias" for alternative in group.alternatives)
    assert content_pieces("有没有讲基于人类反馈的强化学习的", ALIASES.protected) == [
        "基于人类反馈的强化学习"
    ]


def test_the_relaxed_retry_uses_words_and_no_fillers() -> None:
    groups = parse_query("有没有讲量化微调的文章", ALIASES)
    assert [group.label for group in groups] == ["量化微调"]
    retry = relaxed(groups, ALIASES)
    assert retry is not None
    assert [group.label for group in retry] == ["量化", "微调"]
    assert any(a.tokens == ("quantization",) for a in retry[0].alternatives)


def test_text_written_together_gives_an_adjacency_bonus() -> None:
    groups = parse_query("有没有讲AI反馈的论文", ALIASES)
    assert [group.label for group in groups if not group.bonus] == ["AI", "反馈"]
    assert [group.label for group in groups if group.bonus] == ["ai反馈"]
    assert not [group for group in parse_query("AI 反馈", ALIASES) if group.bonus]


def test_segmentation_is_cached_and_deterministic() -> None:
    assert words("有没有讲推理加速的论文") == ("有没有", "讲", "推理", "加速", "的", "论文")
    assert words("有没有讲推理加速的论文") is words("有没有讲推理加速的论文")
