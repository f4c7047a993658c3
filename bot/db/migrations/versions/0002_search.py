"""search index and aliases

The index tables are filled at start-up (`bot.core.search_index.ensure_index` sees
version 0 and rebuilds), not here: a migration must not run today's tokenizer against
tomorrow's schema. The default aliases are inserted here; editors extend them with
`paperbot aliases add`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_ALIASES: list[list[str]] = [
    [
        "RLHF",
        "人类反馈强化学习",
        "基于人类反馈的强化学习",
        "reinforcement learning from human feedback",
    ],
    ["scaling law", "缩放定律", "缩放规律", "规模定律", "扩展定律"],
    ["Transformer", "注意力"],
    ["SFT", "监督微调", "supervised fine-tuning"],
    ["DPO", "直接偏好优化", "direct preference optimization"],
    ["SSM", "状态空间模型", "state space model"],
    ["CoT", "思维链", "链式思维", "chain of thought"],
    ["LLM", "大语言模型", "大模型", "large language model"],
    ["RAG", "检索增强生成", "检索增强", "retrieval-augmented generation"],
    ["MoE", "混合专家", "专家混合", "mixture of experts"],
    ["LoRA", "低秩适配", "低秩适应", "low-rank adaptation"],
    ["PPO", "近端策略优化", "proximal policy optimization"],
    ["RL", "强化学习", "reinforcement learning"],
    ["ICL", "上下文学习", "in-context learning"],
    ["指令微调", "instruction tuning"],
    ["对齐", "alignment"],
    ["预训练", "pre-training"],
    ["微调", "fine-tuning"],
    ["量化", "quantization"],
    ["智能体", "agent"],
    ["幻觉", "hallucination"],
    ["蒸馏", "知识蒸馏", "distillation"],
    ["多模态", "multimodal"],
    ["奖励模型", "reward model"],
    ["思维树", "ToT", "tree of thoughts"],
    ["自洽性", "自一致性", "self-consistency"],
    ["旋转位置编码", "RoPE", "rotary position embedding"],
    ["位置编码", "positional encoding"],
    ["长上下文", "long context"],
    ["少样本", "few-shot"],
    ["零样本", "zero-shot"],
    ["工具使用", "tool use"],
]


def alias_key(term: str) -> str:
    """Frozen copy of bot.core.search.alias_key as of this revision."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", term).casefold()).strip()


def upgrade() -> None:
    op.create_table(
        "search_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_aliases")),
        sa.UniqueConstraint("key", name=op.f("uq_search_aliases_key")),
    )
    with op.batch_alter_table("search_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_search_aliases_group_id"), ["group_id"], unique=False)

    op.create_table(
        "search_docs",
        sa.Column("review_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("head_terms", sa.Text(), nullable=False),
        sa.Column("body_terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_search_docs_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_search_docs")),
    )
    op.create_table(
        "search_postings",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("weight", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("review_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("term", "weight", "review_id", name=op.f("pk_search_postings")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "search_state",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_search_state")),
    )
    op.create_table(
        "search_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("df", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_search_terms")),
        sqlite_with_rowid=False,
    )

    if op.get_bind().dialect.name == "postgresql":
        # Tokens are produced in Python and taken verbatim: no parser, no dictionary.
        op.execute(
            "ALTER TABLE search_docs ADD COLUMN body_tsv tsvector GENERATED ALWAYS AS "
            "(array_to_tsvector(string_to_array(body_terms, ' '))) STORED"
        )
        op.execute("CREATE INDEX ix_search_docs_body_tsv ON search_docs USING gin (body_tsv)")
    else:
        # External content: the FTS index reads search_docs.body_terms, no second copy.
        # Tokens are pre-tokenized letters/digits; unicode61 only splits at the spaces.
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5(body_terms, content='search_docs', "
            "content_rowid='review_id', tokenize='unicode61 remove_diacritics 0', detail=none)"
        )

    state = sa.table("search_state", sa.column("key", sa.String), sa.column("value", sa.Integer))
    # version 0: the index is empty, start-up (re)builds it from the reviews.
    op.bulk_insert(state, [{"key": "version", "value": 0}, {"key": "docs", "value": 0}])
    aliases = sa.table(
        "search_aliases",
        sa.column("term", sa.String),
        sa.column("key", sa.String),
        sa.column("group_id", sa.Integer),
    )
    op.bulk_insert(
        aliases,
        [
            {"term": term, "key": alias_key(term), "group_id": group_id}
            for group_id, group in enumerate(DEFAULT_ALIASES, start=1)
            for term in group
        ],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_docs_body_tsv")
    else:
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_table("search_terms")
    op.drop_table("search_state")
    op.drop_table("search_postings")
    op.drop_table("search_docs")
    with op.batch_alter_table("search_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_aliases_group_id"))
    op.drop_table("search_aliases")
