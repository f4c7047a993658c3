"""Alias matching (bot/core/search/matching.py): the alternatives a phrase becomes, which
alias terms a query holds (longest first, in either script), and the groups they turn
into. Pure functions, plus one matcher built from a real store's alias table."""

from __future__ import annotations

import pytest

from bot.app import Core
from bot.core.search import aliases
from bot.core.search.groups import ALIAS_FACTOR
from bot.core.search.matching import AliasMatcher, _atoms, phrase_alternatives

MATCHER = AliasMatcher(
    [
        ("RLHF", 1),
        ("基于人类反馈的强化学习", 1),
        ("chain of thought", 2),
        ("思维链", 2),
        ("CoT", 2),
        ("chain", 3),
        ("注意力", 4),
        ("attention", 4),
    ]
)


def split(query: str) -> tuple[list[str], list[str]]:
    """The labels of the alias groups a (folded) query holds, and the atoms left over."""
    atoms, words = _atoms(query)
    found, left = MATCHER.split(atoms, words)
    return [group.label for group in found], [atom.text for atom in left]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GPT-3", [("gpt3",), ("gpt", "3")]),
        ("FlashAttention", [("flashattention",), ("flash", "attention")]),
        # A phrase of Latin words is also the compound it may be written as.
        ("chain of thought", [("chainofthought",), ("chain", "thought")]),
        ("注意力", [("注意", "意力")]),
        ("2312.00752 mamba", [("231200752", "mamba")]),
        ("the", []),  # only a stopword: nothing to look for
    ],
)
def test_phrase_alternatives(text: str, expected: list[tuple[str, ...]]) -> None:
    assert phrase_alternatives(text) == expected


def test_the_longest_alias_wins_and_the_rest_is_left() -> None:
    # "chain of thought" is an alias, and so is "chain" alone: the longer one wins.
    assert split("chain of thought prompting") == (["chain of thought"], ["prompting"])
    assert split("chain-of-thought") == (["chain of thought"], [])
    assert split("chain rule") == (["chain"], ["rule"])
    # Out of order it is not the phrase.
    assert split("thought chain") == (["chain"], ["thought"])


def test_an_alias_group_holds_every_spelling_the_others_at_a_discount() -> None:
    atoms, words = _atoms("rlhf")
    [group], _ = MATCHER.split(atoms, words)
    kinds = {
        alternative.tokens: (alternative.kind, alternative.factor)
        for alternative in group.alternatives
    }
    assert kinds[("rlhf",)] == ("term", 1.0)
    chinese = tuple(token for token in kinds if "强化" in token)
    assert len(chinese) == 1 and kinds[chinese[0]] == ("alias", ALIAS_FACTOR)
    atoms, words = _atoms("思维链")
    [group], _ = MATCHER.split(atoms, words)
    assert [a.tokens for a in group.alternatives] == [
        ("思维", "维链"),
        ("chainofthought",),
        ("chain", "thought"),
        ("cot",),
    ]


def test_a_chinese_compound_holding_an_alias_splits_into_its_parts() -> None:
    atoms, words = _atoms("幽灵注意力")
    [group], left = MATCHER.split(atoms, words)
    assert left == []
    assert group.cjk_piece == "幽灵注意力"
    assert group.alternatives[0].tokens == ("幽灵", "灵注", "注意", "意力")
    assert group.split is not None
    assert sorted(part.label for part in group.split) == ["幽灵", "注意力"]
    [attention] = [part for part in group.split if part.label == "注意力"]
    assert ("attention",) in [a.tokens for a in attention.alternatives]


def test_an_alias_with_a_function_character_stays_whole() -> None:
    """的 would otherwise split 基于人类反馈的强化学习 in two; the filler removal is told
    to leave it alone too (`protected`)."""
    assert MATCHER.protected == ("基于人类反馈的强化学习",)
    assert split("基于人类反馈的强化学习") == (["基于人类反馈的强化学习"], [])


def test_an_alias_standing_alone_in_a_chinese_run_leaves_the_rest() -> None:
    labels, left = split("注意力机制")
    assert labels == ["注意力机制"]  # glued: a compound that splits into 注意力 and 机制
    labels, left = split("注意力的机制")
    assert labels == ["注意力"] and left == ["机制"]


def test_without_aliases_nothing_is_found() -> None:
    atoms, words = _atoms("rlhf 思维链")
    found, left = AliasMatcher([]).split(atoms, words)
    assert found == [] and [atom.text for atom in left] == ["rlhf", "思维链"]


def test_a_matcher_from_the_stored_alias_table(core: Core) -> None:
    """What an editor adds through the service is what the matcher finds, both ways."""
    core.search.add_aliases("蜂鸟模型", ["hummingbird"])
    with core.sessions() as session:
        matcher = AliasMatcher(aliases.load_rows(session))
    for query, other in (("hummingbird", ("蜂鸟", "鸟模", "模型")), ("蜂鸟模型", ("hummingbird",))):
        atoms, words = _atoms(query)
        [group], left = matcher.split(atoms, words)
        assert left == []
        assert other in [a.tokens for a in group.alternatives if a.kind == "alias"]
