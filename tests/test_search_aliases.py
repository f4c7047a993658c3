"""Default aliases for the column's field, each with a test, and how they reach a store:
merged once at start-up without undoing an editor's edits (bot/core/search/aliases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete

from bot.app import Core, build_core
from bot.core.search.aliases import DEFAULT_ALIASES, ensure_default_aliases
from bot.db.models import SearchState
from tests.support.stores import make_settings
from tests.test_search import load, slugs, write_review


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("PEFT", "参数高效微调"),
        ("RNN", "循环神经网络"),
        ("recurrent neural network", "RNN"),
        ("attention", "注意力"),
        ("推理加速", "inference acceleration"),
        ("推测解码", "speculative decoding"),
        ("tool use", "调用工具"),
        ("工具调用", "tool use"),
        ("agent", "智能体"),
        ("reasoning", "推理能力"),
        ("quantization", "量化"),
        ("knowledge distillation", "知识蒸馏"),
        ("long context", "长上下文"),
        ("KV cache", "键值缓存"),
        ("MoE", "混合专家"),
        ("RLHF", "人类反馈强化学习"),
        ("RLAIF", "AI反馈强化学习"),
        ("reward model", "奖励模型"),
        ("LoRA", "低秩"),
        ("position embedding", "位置编码"),
        ("fine-tune", "微调"),
        ("加速", "speedup"),
    ],
)
def test_default_aliases_work_both_ways(core: Core, tmp_path: Path, one: str, other: str) -> None:
    load(
        core,
        write_review(tmp_path, "one", title="First", body=f"这篇讲 {one} 的细节。"),
        write_review(tmp_path, "other", title="Second", body=f"这篇讲{other}的细节。"),
    )
    assert set(slugs(core, one)) == {"one", "other"}
    assert set(slugs(core, other)) == {"one", "other"}
    assert slugs(core, one)[0] == "one"
    assert slugs(core, other)[0] == "other"


def test_attention_is_no_longer_an_alias_of_transformer(core: Core, tmp_path: Path) -> None:
    """注意力 used to be tied to Transformer: 注意力加速 found every Transformer review."""
    load(
        core,
        write_review(tmp_path, "tf", title="A Transformer Review", body="Transformer 加速。"),
        write_review(tmp_path, "fa", title="Fast Kernels", body="让 attention 加速。"),
    )
    assert slugs(core, "注意力") == ["fa"]
    assert slugs(core, "注意力加速") == ["fa"]
    assert not any({"Transformer", "注意力"} <= set(group) for group in core.search.list_aliases())


def test_defaults_are_merged_once_and_editors_edits_stay(core: Core, tmp_path: Path) -> None:
    groups = core.search.list_aliases()
    for default in DEFAULT_ALIASES:
        assert any(set(default) <= set(group) for group in groups), default
    assert ensure_default_aliases(core.sessions) is False  # already current
    # An editor removes a default term, then the store is merged again from version 1:
    # what the editor removed stays removed, nothing is doubled.
    core.search.remove_alias("大模型")
    core.search.add_aliases("Transformer", ["注意力", "自注意力"])
    with core.sessions.begin() as session:
        session.execute(delete(SearchState).where(SearchState.key == "aliases"))
    assert ensure_default_aliases(core.sessions) is True
    groups = core.search.list_aliases()
    assert not any("大模型" in group for group in groups)
    assert any({"Transformer", "注意力", "自注意力"} <= set(group) for group in groups)
    terms = [term.casefold() for group in groups for term in group]
    assert len(terms) == len(set(terms))


def test_a_store_from_before_gets_the_new_defaults_on_start(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    core = build_core(settings, seed=False)
    with core.sessions.begin() as session:
        session.execute(delete(SearchState).where(SearchState.key == "aliases"))
    for term in ("PEFT", "参数高效微调", "高效微调"):  # as a store of version 1 had it
        core.search.remove_alias(term)
    assert not any("PEFT" in group for group in core.search.list_aliases())
    core.close()
    core = build_core(settings, seed=False)
    try:
        assert any("PEFT" in group for group in core.search.list_aliases())
    finally:
        core.close()
