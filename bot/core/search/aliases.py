"""Alias storage: the `search_aliases` table, its defaults, and editing it.

Terms of one group find each other (RLHF ⇄ 人类反馈强化学习). Migration 0002 installed
the first defaults; later defaults are merged in code at start-up
(`ensure_default_aliases`), once per defaults version, and only with terms that are new
in that version, so an editor's own edits (a default term removed, groups joined) are
never undone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.search.matching import phrase_alternatives
from bot.db.models import SearchAlias, SearchState

#: The defaults as migration 0002 installed them (frozen: what a store already has).
DEFAULT_ALIASES_V1: tuple[tuple[str, ...], ...] = (
    (
        "RLHF",
        "人类反馈强化学习",
        "基于人类反馈的强化学习",
        "reinforcement learning from human feedback",
    ),
    ("scaling law", "缩放定律", "缩放规律", "规模定律", "扩展定律"),
    ("Transformer", "注意力"),
    ("SFT", "监督微调", "supervised fine-tuning"),
    ("DPO", "直接偏好优化", "direct preference optimization"),
    ("SSM", "状态空间模型", "state space model"),
    ("CoT", "思维链", "链式思维", "chain of thought"),
    ("LLM", "大语言模型", "大模型", "large language model"),
    ("RAG", "检索增强生成", "检索增强", "retrieval-augmented generation"),
    ("MoE", "混合专家", "专家混合", "mixture of experts"),
    ("LoRA", "低秩适配", "低秩适应", "low-rank adaptation"),
    ("PPO", "近端策略优化", "proximal policy optimization"),
    ("RL", "强化学习", "reinforcement learning"),
    ("ICL", "上下文学习", "in-context learning"),
    ("指令微调", "instruction tuning"),
    ("对齐", "alignment"),
    ("预训练", "pre-training"),
    ("微调", "fine-tuning"),
    ("量化", "quantization"),
    ("智能体", "agent"),
    ("幻觉", "hallucination"),
    ("蒸馏", "知识蒸馏", "distillation"),
    ("多模态", "multimodal"),
    ("奖励模型", "reward model"),
    ("思维树", "ToT", "tree of thoughts"),
    ("自洽性", "自一致性", "self-consistency"),
    ("旋转位置编码", "RoPE", "rotary position embedding"),
    ("位置编码", "positional encoding"),
    ("长上下文", "long context"),
    ("少样本", "few-shot"),
    ("零样本", "zero-shot"),
    ("工具使用", "tool use"),
)

#: Today's defaults for the column's field. A group is matched to a stored one by any
#: term they share; terms not in DEFAULT_ALIASES_V1 are what version 2 adds.
DEFAULT_ALIASES: tuple[tuple[str, ...], ...] = (
    (
        "RLHF",
        "人类反馈强化学习",
        "基于人类反馈的强化学习",
        "reinforcement learning from human feedback",
    ),
    ("RLAIF", "AI反馈强化学习", "基于AI反馈的强化学习", "reinforcement learning from AI feedback"),
    ("scaling law", "缩放定律", "缩放规律", "规模定律", "扩展定律"),
    ("注意力", "attention", "注意力机制", "attention mechanism"),
    ("SFT", "监督微调", "supervised fine-tuning"),
    ("DPO", "直接偏好优化", "direct preference optimization"),
    ("SSM", "状态空间模型", "state space model"),
    ("RNN", "循环神经网络", "递归神经网络", "recurrent neural network"),
    ("CoT", "思维链", "链式思维", "chain of thought"),
    ("LLM", "大语言模型", "大模型", "large language model"),
    ("RAG", "检索增强生成", "检索增强", "retrieval-augmented generation"),
    ("MoE", "混合专家", "专家混合", "mixture of experts", "混合专家模型", "稀疏专家模型"),
    ("LoRA", "低秩适配", "低秩适应", "low-rank adaptation", "低秩"),
    ("PEFT", "参数高效微调", "高效微调", "parameter-efficient fine-tuning"),
    ("PPO", "近端策略优化", "proximal policy optimization"),
    ("RL", "强化学习", "reinforcement learning"),
    ("ICL", "上下文学习", "in-context learning"),
    ("指令微调", "instruction tuning"),
    ("对齐", "alignment"),
    ("预训练", "pre-training"),
    ("微调", "fine-tuning", "fine-tune", "finetuning", "finetune"),
    ("量化", "quantization", "quantized", "低比特"),
    ("智能体", "agent", "AI智能体", "LLM agent"),
    ("推理能力", "reasoning"),
    ("推理加速", "inference acceleration", "加速推理", "inference speedup", "推理优化"),
    ("加速", "提速", "更快", "speedup", "faster", "acceleration"),
    ("推测解码", "投机解码", "speculative decoding", "推测采样", "speculative sampling"),
    ("KV cache", "KV缓存", "键值缓存", "key-value cache"),
    ("幻觉", "hallucination"),
    ("蒸馏", "知识蒸馏", "distillation", "knowledge distillation", "distilled"),
    ("多模态", "multimodal"),
    ("奖励模型", "reward model", "偏好模型", "preference model"),
    ("思维树", "ToT", "tree of thoughts"),
    ("自洽性", "自一致性", "self-consistency", "自我一致"),
    ("旋转位置编码", "RoPE", "rotary position embedding"),
    ("位置编码", "positional encoding", "position embedding", "位置嵌入"),
    ("长上下文", "long context", "长文本", "上下文窗口", "context window"),
    ("少样本", "few-shot"),
    ("零样本", "zero-shot"),
    ("工具使用", "tool use", "调用工具", "工具调用", "使用工具", "tool learning"),
)

#: The version of the defaults a store has (search_state key "aliases"; 1: migration 0002).
DEFAULT_ALIASES_VERSION = 2
_STATE_KEY = "aliases"


def alias_key(term: str) -> str:
    """What makes two alias entries the same (the migration keeps a frozen copy)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", term).casefold()).strip()


def load_rows(session: Session) -> tuple[tuple[str, int], ...]:
    return tuple(
        (term, group_id)
        for term, group_id in session.execute(
            select(SearchAlias.term, SearchAlias.group_id).order_by(SearchAlias.id)
        )
    )


def list_groups(session: Session) -> list[list[str]]:
    """Alias groups in the order they were made, each as its terms."""
    rows = session.execute(
        select(SearchAlias.group_id, SearchAlias.term).order_by(
            SearchAlias.group_id, SearchAlias.id
        )
    ).all()
    groups: dict[int, list[str]] = {}
    for group_id, term in rows:
        groups.setdefault(group_id, []).append(term)
    return list(groups.values())


def add_group(session: Session, term: str, synonyms: Sequence[str]) -> list[str]:
    """Put TERM and SYNONYMS in one alias group (joining groups they are already in)."""
    terms = [" ".join(t.split()) for t in (term, *synonyms)]
    for value in terms:
        if not value or len(value) > 100:
            raise ValueError(f"an alias must be 1 to 100 characters: {value!r}")
        if not phrase_alternatives(value):
            raise ValueError(f"{value!r} has no searchable word (a single 汉字 is too short)")
    wanted = {alias_key(value): value for value in terms}
    if len(wanted) < 2:
        raise ValueError("give at least one synonym that differs from the term")
    existing = session.scalars(select(SearchAlias).where(SearchAlias.key.in_(list(wanted)))).all()
    group_ids = sorted({row.group_id for row in existing})
    if group_ids:
        target = group_ids[0]
        for row in session.scalars(
            select(SearchAlias).where(SearchAlias.group_id.in_(group_ids[1:]))
        ):
            row.group_id = target
    else:
        target = _next_group_id(session)
    known = {row.key for row in existing}
    for key, value in wanted.items():
        if key not in known:
            session.add(SearchAlias(term=value, key=key, group_id=target))
    session.flush()
    return _terms(session, target)


def remove_term(session: Session, term: str) -> list[str] | None:
    """Take TERM out of its group; returns what the group keeps (None: no such alias).
    A group left with a single term is removed too."""
    row = session.scalar(select(SearchAlias).where(SearchAlias.key == alias_key(term)))
    if row is None:
        return None
    group_id = row.group_id
    session.delete(row)
    session.flush()
    rest = _terms(session, group_id)
    if len(rest) < 2:
        session.execute(delete(SearchAlias).where(SearchAlias.group_id == group_id))
        return []
    return rest


def _terms(session: Session, group_id: int) -> list[str]:
    return list(
        session.scalars(
            select(SearchAlias.term)
            .where(SearchAlias.group_id == group_id)
            .order_by(SearchAlias.id)
        )
    )


def _next_group_id(session: Session) -> int:
    return (session.scalar(select(func.max(SearchAlias.group_id))) or 0) + 1


def ensure_default_aliases(sessions: sessionmaker[Session]) -> bool:
    """Bring a store's aliases up to DEFAULT_ALIASES_VERSION (start-up; idempotent).

    Cheap when current: one small query. Returns whether it changed anything.
    """
    with sessions.begin() as session:
        state = session.get(SearchState, _STATE_KEY)
        version = state.value if state is not None else 1
        if version >= DEFAULT_ALIASES_VERSION:
            return False
        if version < 2:
            _to_version_2(session)
        if state is None:
            session.add(SearchState(key=_STATE_KEY, value=DEFAULT_ALIASES_VERSION))
        else:
            state.value = DEFAULT_ALIASES_VERSION
        return True


def _to_version_2(session: Session) -> None:
    # 注意力 left the Transformer group (it pulled every Transformer review above
    # FlashAttention for 注意力加速), unless an editor has changed that group.
    rows = session.scalars(
        select(SearchAlias).where(SearchAlias.key.in_([alias_key("transformer"), "注意力"]))
    ).all()
    if len(rows) == 2 and rows[0].group_id == rows[1].group_id:
        group_size = session.scalar(
            select(func.count()).where(SearchAlias.group_id == rows[0].group_id)
        )
        if group_size == 2:
            session.execute(delete(SearchAlias).where(SearchAlias.group_id == rows[0].group_id))
            session.flush()
    old = {alias_key(term) for group in DEFAULT_ALIASES_V1 for term in group}
    for group in DEFAULT_ALIASES:
        keys = {alias_key(term): term for term in group}
        new = {key: term for key, term in keys.items() if key not in old or key == "注意力"}
        if not new:
            continue
        stored = session.scalars(select(SearchAlias).where(SearchAlias.key.in_(list(keys)))).all()
        present = {row.key for row in stored}
        missing = {key: term for key, term in new.items() if key not in present}
        if not missing:
            continue
        if stored:
            target = min(row.group_id for row in stored)
        elif len(missing) < 2:
            continue
        else:
            target = _next_group_id(session)
        for key, term in missing.items():
            session.add(SearchAlias(term=term, key=key, group_id=target))
        session.flush()
