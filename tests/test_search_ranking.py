"""Ranking (bot/core/search/ranker.py, phrases.py, search_index.doc_terms): term frequency
and field prominence, adjacency and the phrase bonus, the title/tags tie-break, and
queries most of which no review mentions. Real stores on both backends, reviews written
for each case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app import Core, build_core
from bot.core.search import Group, Ranker, phrases
from bot.core.search.phrases import FIELD_WEIGHTS, Phrase
from bot.core.search.query import query_phrase
from bot.core.search_index import decode_weight, doc_terms, encode_weight
from tests.support.stores import make_settings
from tests.test_search import load, slugs, write_review


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


# --- the phrase bonus (bot/core/search/phrases.py) -------------------------------------
# In each case the two reviews hold the same words in the same fields as often, so
# without the bonus the newer one (the one with the words apart) would come first.


def test_words_standing_together_in_the_summary_win(core: Core, tmp_path: Path) -> None:
    load(
        core,
        write_review(
            tmp_path,
            "lora",
            title="Cheap Fine-Tuning",
            summary="提出 low rank adaptation：冻结原权重，只训练旁路矩阵。",
            body="方法很简单。",
        ),
        write_review(
            tmp_path,
            "apart",
            title="Memory for Agents",
            summary="low 成本的记忆；按 rank 排序；adaptation 在线进行。",
            body="方法很简单。",
        ),
    )
    assert slugs(core, "low rank adaptation")[0] == "lora"
    assert slugs(core, "有没有讲 low rank adaptation 的论文")[0] == "lora"


@pytest.mark.parametrize(
    ("query", "together", "apart"),
    [
        (
            "chain of thought",
            "模型先写出 chain of thought，再给答案。",
            "工具组成一条 chain。作者的 thought 是：检索更重要。",
        ),
        (
            "mixture of experts",
            "每层是一个 mixture of experts，只激活两个专家。",
            "数据是多种来源的 mixture。再请 experts 打分。",
        ),
        (
            "speculative decoding",
            "用小模型做 speculative decoding，大模型一次验证多个词。",
            "这种想法很 speculative。普通的 decoding 照旧。",
        ),
    ],
    ids=["chain-of-thought", "mixture-of-experts", "speculative-decoding"],
)
def test_english_phrases_prefer_the_review_that_says_them(
    core: Core, tmp_path: Path, query: str, together: str, apart: str
) -> None:
    """The phrase in the body only: the smallest bonus still decides a tie."""
    load(
        core,
        write_review(tmp_path, "together", title="One", body=together),
        write_review(tmp_path, "apart", title="Two", body=apart),
    )
    assert slugs(core, query) == ["together", "apart"]


def test_a_phrase_counts_most_in_the_title() -> None:
    phrase = Phrase.of(query_phrase("low rank adaptation"))
    assert len(phrase.pairs) == 2
    title = phrase.weight({"title": ["LoRA: Low-Rank Adaptation"], "body": ["low rank"]})
    summary = phrase.weight({"title": ["LoRA"], "summary": ["low rank adaptation"]})
    body = phrase.weight({"title": ["LoRA"], "body": ["a low-rank adaptation"]})
    assert title == 2 * FIELD_WEIGHTS["title"]
    assert title > summary > body > 0
    # Hyphenated, with a stopword between or in the plural: still the phrase.
    assert phrase.weight({"body": ["Low–Rank of adaptations"]}) == 2 * FIELD_WEIGHTS["body"]
    # A sentence break, another word, the other order or a longer word: not the phrase.
    for text in ("low. rank, adaptation", "low cost rank", "rank low", "slow ranking"):
        assert phrase.weight({"title": [text]}) == 0.0, text


def test_chinese_and_latin_words_stand_together_across_the_script_change() -> None:
    phrase = Phrase.of(query_phrase("有没有讲AI反馈的论文"))
    assert phrase.weight({"tags": ["AI反馈"]}) == FIELD_WEIGHTS["tags"]
    assert phrase.weight({"title": ["Meta AI"], "body": ["用户反馈"]}) == 0.0
    assert Phrase.of(query_phrase("什么是RLHF")).pairs == ()


def test_the_phrase_bonus_decides_ties_on_both_backends_alike(
    database_url: str, tmp_path: Path
) -> None:
    """Only the first PHRASE_K ranked reviews are looked at, and the order is the same
    on SQLite and PostgreSQL: the reviews say "speculative" and "decoding" equally
    often, every third one together."""
    settings = make_settings(database_url, tmp_path)
    built = build_core(settings, seed=False)
    try:
        paths = [
            write_review(
                tmp_path,
                f"r{n:02d}",
                title=f"Review {n}",
                body="我们用 speculative decoding 加速。"
                if n % 3 == 0
                else "想法很 speculative。照旧 decoding。",
            )
            for n in range(12)
        ]
        load(built, *paths)
        found = slugs(built, "speculative decoding", limit=12)
    finally:
        built.close()
    together = [f"r{n:02d}" for n in range(12) if n % 3 == 0]
    apart = [f"r{n:02d}" for n in range(12) if n % 3 != 0]
    assert found == sorted(together, reverse=True) + sorted(apart, reverse=True)


@pytest.mark.parametrize(
    "query",
    ["low rank adaptation", "GPT-3 models", "chain of thought", "AI反馈", "对齐 微调 方法"],
)
def test_a_pair_skips_only_texts_its_expression_cannot_match(query: str) -> None:
    """A pair is searched for only where both its words' literals are (so that most
    pairs are never compiled): over texts that match and texts that almost do, the
    answer is always that of its full expression."""
    texts = [
        "lora: low-rank adaptation",
        "low–rank of adaptations",
        "low rank. adaptation",
        "slow ranking adaptation",
        "gpt 3 models",
        "gpt-3 model",
        "gpt3 models are large",
        "a chain-of-thought prompt",
        "chain of the thought",
        "meta ai 的反馈",
        "ai反馈",
        "对齐和微调方法",
        "对齐。微调",
        "微调 对齐",
        "",
    ]
    phrase = Phrase.of(query_phrase(query))
    assert phrase.pairs
    matched = 0
    for pair in phrase.pairs:
        expression = re.compile(pair.first + phrases._GAP + pair.second)
        for text in texts:
            assert pair.search(text) == bool(expression.search(text)), (pair, text)
            matched += pair.search(text)
    assert matched > 0
