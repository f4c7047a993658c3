"""Search latency benchmark: SearchService.search at scale, on SQLite and PostgreSQL.

    python bench/search_latency.py                       # 100,000 reviews, both backends
    python bench/search_latency.py --reviews 300 --no-postgres

Generates N synthetic reviews (Chinese prose with English terms, tags, authors, arXiv
ids; a Zipf-like mix so some terms are in most reviews and many in a few), bulk-inserts
them and bulk-builds the index, then times every query of a fixed mix (rare and common
terms, Chinese words, aliases, typos, ids, authors, mixed, hostile) several times and
prints p50/p95/p99/max in milliseconds. The baseline is the naive LIKE scan with Python
scoring that search used before, on --baseline-reviews reviews (it is too slow for
100,000), next to the new search on the same data, and their ratio.

PostgreSQL gets a schema of its own in --postgres-url's database, dropped at the end.
Not part of the test suite (tests/test_search.py only checks that it runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Engine, create_engine, insert, or_, select, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from bot.core.search import SearchService  # noqa: E402
from bot.core.search_index import IndexStore, ensure_index  # noqa: E402
from bot.db import migrate  # noqa: E402
from bot.db.engine import make_engine, make_session_factory  # noqa: E402
from bot.db.models import Review  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# --- synthetic column ----------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split()


ZH_TERMS = words(
    "对齐 微调 预训练 推理 注意力 缩放定律 指令微调 强化学习 奖励模型 思维链 检索增强 "
    "混合专家 量化 蒸馏 长上下文 位置编码 状态空间模型 多模态 智能体 工具调用 幻觉 "
    "评测基准 数据质量 合成数据 偏好优化 安全对齐 红队测试 稀疏注意力 线性注意力 "
    "知识编辑 持续学习 课程学习 自监督 对比学习 表示学习 语言建模 代码生成 数学推理 "
    "常识推理 多语言 机器翻译 文本摘要 问答系统 信息检索 向量数据库 分词器 词表 "
    "嵌入层 残差连接 层归一化 激活函数 学习率 优化器 梯度裁剪 混合精度 并行训练 "
    "流水线并行 张量并行 显存优化 推理加速 投机解码 键值缓存 批处理 服务框架 模型压缩 "
    "剪枝 低秩分解 参数高效 适配器 提示工程 上下文学习 零样本 少样本 涌现能力 "
    "泛化能力 鲁棒性 可解释性 因果推断 规划能力 自我反思 自洽性 思维树 过程监督 "
    "结果监督 价值函数 策略梯度 蒙特卡洛 树搜索 拒绝采样 温度采样 束搜索 解码策略 "
    "长度外推 视觉编码器 图像生成 扩散模型 语音识别 视频理解 具身智能 机器人 世界模型 "
    "模拟环境 数据飞轮 "
)
ZH_COMMON = words(
    "模型 方法 训练 数据 结果 实验 性能 任务 提出 显著 提升 使用 通过 进行 能力 效果 "
    "问题 研究 我们 这种 作者 论文 基于 设计 分析 发现 表明 相比 同时 进一步 有效 "
    "重要 关键 规模 参数 计算 成本 "
)
EN_TERMS = words(
    "transformer attention language model scaling alignment reasoning retrieval agent "
    "benchmark pretraining finetuning instruction preference reward policy decoding "
    "sampling quantization distillation sparse expert routing mixture context window "
    "memory cache kernel throughput latency efficient robust multilingual multimodal "
    "vision speech code math planning tool search evaluation safety hallucination "
    "knowledge graph embedding tokenizer vocabulary optimizer gradient curriculum "
    "synthetic data quality contrastive self supervised causal diffusion world "
    "simulation robot embodied long short deep wide recurrent linear state space "
)
SYLLABLES = words(
    "ra ze ka lo mi nu ta vo ri pe xa qu li mo sa de fi go ha ju ne ko po ru si te vi "
    "wa ya zo bel dor fan gim hel jor kel lum mar nor pol qin ros sul tor val wen xor "
    "yul zan "
)
FIRST = words(
    "Alice Bo Chen Daniel Emma Feng Grace Hao Ivan Jia Kevin Lei Maria Ning Oscar "
    "Ping Quinn Rui Sofia Tao Umar Wei Xin Yuki Zhao Aaron Bella Carlos Diana Ethan "
    "Fatima Gabriel Hana Igor Julia Kenji Lina Mateo Nadia Omar Priya Ravi Sara Tom "
    "Ursula Victor Wen Yan Zoe "
)
LAST = words(
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo "
    "Gao Smith Johnson Brown Garcia Miller Davis Wilson Anderson Taylor Thomas Moore "
    "Martin Lee Kim Park Nguyen Tanaka Suzuki Sato Mueller Schmidt Rossi Silva Kumar "
    "Singh Patel Cohen Levy "
)
ORGS = words(
    "Google DeepMind OpenAI Meta Anthropic Microsoft 清华大学 北京大学 "
    "上海人工智能实验室 Stanford MIT CMU Berkeley 阿里巴巴 字节跳动 腾讯 百度 智谱 "
    "月之暗面 DeepSeek Mistral "
)
HEADINGS = ["核心思想", "技术要点", "实验结果", "潜在影响", "研究方法", "局限与展望"]
SENTENCES = [
    "{z}是{c}中的{c}问题，{z}的{c}仍然有限。",
    "作者提出{M}，通过{z}和{z}来{c}{c}。",
    "在{e} {e}基准上，{M}的{c}比{z}方法{c}了{n}%。",
    "- **{z}**：{c}{z}，{c}{c}{z}的{c}",
    "这种{z}方法不需要额外的{z}，{c}{c}更低。",
    "实验表明，{z}与{z}结合后，{e}任务的{c}{c}明显{c}。",
    "与{M}相比，{z}在{n}B 参数规模上的{c}更好，{c}也更{c}。",
    "{M} uses {e} {e} to improve {e} {e}，{c}{z}。",
]
TITLES = [
    "{M}: {E} {E} for {E} {E}",
    "{E} {E} with {M}",
    "Towards {E} {E}: {M} and {E} {E}",
    "{M}: Scaling {E} {E} to {E} {E}",
    "On the {E} of {E} {E} in {M}",
]
ALIASES = [
    "RLHF",
    "人类反馈强化学习",
    "scaling law",
    "缩放定律",
    "缩放规律",
    "SFT",
    "监督微调",
    "DPO",
    "直接偏好优化",
    "SSM",
    "状态空间模型",
    "CoT",
    "思维链",
    "LLM",
    "大语言模型",
    "大模型",
    "transformer",
    "注意力",
    "MoE",
    "混合专家",
]


class Zipf:
    """Draws from a list with weight 1/rank**s: a few items everywhere, most rare."""

    def __init__(self, items: Sequence[str], s: float = 1.0) -> None:
        self.items = list(items)
        total = 0.0
        self.cumulative = []
        for rank in range(1, len(self.items) + 1):
            total += 1 / rank**s
            self.cumulative.append(total)

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.items, cum_weights=self.cumulative)[0]


def model_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        if rng.random() < 0.3:
            name += f"-{rng.randint(1, 9)}"
        names.add(name)
    return sorted(names, key=lambda _: rng.random())


class Generator:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.models = model_names(self.rng, 20_000)
        self.model = Zipf(self.models, 0.9)
        self.zh = Zipf(ZH_TERMS, 1.0)
        self.common = Zipf(ZH_COMMON, 0.7)
        self.en = Zipf(EN_TERMS, 0.9)
        self.first = Zipf(FIRST, 0.5)
        self.last = Zipf(LAST, 0.5)

    def sentence(self) -> str:
        rng = self.rng
        template = rng.choice(SENTENCES)
        return re.sub(
            r"\{(\w)\}",
            lambda m: {
                "z": self.zh,
                "c": self.common,
                "e": self.en,
                "M": self.model,
                "n": lambda r: str(r.randint(2, 90)),
            }[m.group(1)](rng),
            template,
        )

    def review(self, n: int, now: dt.datetime) -> dict[str, object]:
        rng = self.rng
        model = self.model(rng)
        title = re.sub(
            r"\{(\w)\}",
            lambda m: model if m.group(1) == "M" else self.en(rng).capitalize(),
            rng.choice(TITLES),
        )
        sections = []
        for heading in rng.sample(HEADINGS, 4):
            sentences = [self.sentence() for _ in range(rng.randint(3, 5))]
            sections.append(f"#### {heading}\n\n" + "".join(sentences))
        tags = list(dict.fromkeys([self.zh(rng) for _ in range(rng.randint(2, 4))]))
        if rng.random() < 0.3:
            tags.append(model)
        author = f"{self.first(rng)} {self.last(rng)}"
        block, number = divmod(n, 50_000)
        arxiv_id = f"{18 + block // 12:02d}{block % 12 + 1:02d}.{number + 10_000:05d}"
        published = now - dt.timedelta(minutes=n)
        return {
            "slug": f"bench-{n}",
            "title": title[:500],
            "arxiv_id": arxiv_id,
            "authors": f"{author}等 ({rng.choice(ORGS)})",
            "paper_date": None,
            "paper_date_precision": None,
            "section": "latest",
            "tags": tags,
            "body": "\n\n".join(sections),
            "summary": f"{model} {self.sentence()}".replace("- **", "").replace("**", ""),
            "status": "published" if rng.random() < 0.97 else "draft",
            "publish_at": None,
            "published_at": published,
            "content_hash": "",
            "created_at": published,
            "updated_at": published,
        }


def query_mix(gen: Generator, reviews: int, count: int) -> list[str]:
    """A fixed, seeded mix of what readers type."""
    rng = random.Random(11)
    queries: list[str] = []
    rare = gen.models[len(gen.models) // 2 :]
    mid = gen.models[50:400]
    kinds: list[tuple[int, Callable[[], str]]] = [
        (30, lambda: rng.choice(rare)),  # model names in a handful of reviews
        (20, lambda: rng.choice(mid)),
        (20, lambda: rng.choice(ZH_COMMON[:12])),  # 模型 方法 训练 ... in most reviews
        (10, lambda: rng.choice(["language", "model", "transformer", "attention", "data"])),
        (30, lambda: rng.choice(ZH_TERMS)),  # Chinese words
        (20, lambda: rng.choice(ALIASES)),
        (20, lambda: typo(rng, rng.choice(mid + EN_TERMS[:40]))),
        (20, lambda: arxiv_reference(rng, reviews)),
        (15, lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}"),
        (10, lambda: rng.choice(LAST)),
        (25, lambda: f"{rng.choice(ZH_TERMS)} {rng.choice(EN_TERMS)} {rng.choice(ZH_TERMS)}"),
        (15, lambda: f"{rng.choice(mid)}的{rng.choice(ZH_TERMS)}"),
        (15, lambda: rng.choice(HOSTILE)),
    ]
    for weight, make in kinds:
        queries.extend(make() for _ in range(weight))
    rng.shuffle(queries)
    while len(queries) < count:
        queries.append(queries[len(queries) % len(queries)])
    return queries[:count]


HOSTILE = [
    '"unbalanced',
    "(((",
    "a AND OR NOT",
    "x" * 10_000,
    "🙂🙃",
    "%_%",
    "NEAR(a b)",
    "*",
    "量子纠缠咖啡机",
    "'; DROP TABLE reviews; --",
]


def typo(rng: random.Random, word: str) -> str:
    word = word.lower().split("-")[0]
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :] if rng.random() < 0.5 else word[:i] + word[i] + word[i:]


def arxiv_reference(rng: random.Random, reviews: int) -> str:
    n = rng.randrange(reviews)
    block, number = divmod(n, 50_000)
    arxiv_id = f"{18 + block // 12:02d}{block % 12 + 1:02d}.{number + 10_000:05d}"
    return rng.choice(
        [arxiv_id, f"{arxiv_id}v2", f"https://arxiv.org/abs/{arxiv_id}v1", f"arXiv:{arxiv_id}"]
    )


# --- stores ----------------------------------------------------------------------------


@contextmanager
def sqlite_store(work: Path, name: str) -> Iterator[str]:
    path = work / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    yield f"sqlite:///{path}"


@contextmanager
def postgres_store(url: str, keep: bool = False) -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        if keep:
            print(f"kept schema {schema}", file=sys.stderr)
        else:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def populate(engine: Engine, reviews: int, gen: Generator) -> tuple[float, float]:
    """Bulk-insert synthetic reviews and bulk-build the index; (insert s, index s)."""
    migrate.upgrade(engine)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    batch: list[dict[str, object]] = []
    with engine.begin() as connection:
        for n in range(reviews):
            batch.append(gen.review(n, now))
            if len(batch) == 5_000 or n == reviews - 1:
                connection.execute(insert(Review.__table__), batch)
                batch = []
    inserted = time.perf_counter()
    with engine.begin() as connection:
        IndexStore(connection).rebuild()
    indexed = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return inserted - started, indexed - inserted


# --- the baseline: search as it was before, a LIKE scan scored in Python --------------

_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+\-]*")


def naive_terms(query: str) -> list[str]:
    query = query[:200]
    terms: list[str] = []
    for word in _LATIN_WORD.findall(query):
        word = word.lower().strip(".-+")
        if len(word) >= 2 and word not in terms:
            terms.append(word)
    for run in _HAN_RUN.findall(query):
        pieces = [run] if len(run) <= 2 else [run, *(run[i : i + 2] for i in range(len(run) - 1))]
        terms.extend(piece for piece in pieces if piece not in terms)
    return terms


def naive_search(sessions: sessionmaker[Session], query: str, limit: int = 5) -> list[int]:
    terms = naive_terms(query)
    if not terms:
        return []
    with sessions() as session:
        conditions = []
        for term in terms:
            for column in (Review.title, Review.authors, Review.summary, Review.body):
                conditions.append(column.ilike(f"%{term}%"))
            conditions.append(Review.arxiv_id.ilike(f"%{term}%"))
        rows = session.scalars(
            select(Review).where(Review.status == "published", or_(*conditions))
        ).all()
        scored = []
        for row in rows:
            fields = (row.arxiv_id or "", row.title, " ".join(row.tags), row.authors, row.summary)
            lowered = [value.lower() for value in fields]
            body = row.body.lower()
            score = 0.0
            for term in terms:
                score += sum(w for w, f in zip((12, 6, 5, 4, 2), lowered, strict=True) if term in f)
                score += min(body.count(term), 5)
            scored.append((-score, -row.id))
        scored.sort()
        return [-review_id for _, review_id in scored[:limit]]


# --- timing --------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


def measure(run: Callable[[str], object], queries: list[str], rounds: int) -> dict[str, float]:
    for query in queries:  # warm-up: caches, prepared plans, the alias table
        run(query)
    samples = []
    for _ in range(rounds):
        for query in queries:
            started = time.perf_counter()
            run(query)
            samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def row(label: str, figures: dict[str, float]) -> str:
    cells = "  ".join(f"{key} {figures[key]:8.2f}" for key in ("p50", "p95", "p99", "max"))
    return f"{label:<44} {cells}  ms"


def cold_search(service: SearchService, query: str) -> object:
    """A search with nothing remembered: the service's answers and index reads are
    forgotten first (as a new version of the store does), so the query is ranked from
    the index. The bench's rounds repeat its queries, which the caches would otherwise
    answer in microseconds (the "remembered" row)."""
    service.results.at(object())
    service.index.at(object())
    return service.search(query, limit=5)


def bench_backend(
    name: str, store: Callable[[str], AbstractContextManager[str]], args: argparse.Namespace
) -> list[str]:
    lines = []
    sizes = sorted({args.reviews, min(args.baseline_reviews, args.reviews)}, reverse=True)
    for size in sizes:
        with store(f"{name}_{size}") as url:
            engine = make_engine(url)
            try:
                gen = Generator()
                insert_s, index_s = populate(engine, size, gen)
                sessions = make_session_factory(engine)
                ensure_index(sessions)  # what start-up does: must find the index current
                service = SearchService(sessions)
                queries = query_mix(gen, size, args.queries)
                print(
                    f"{name}: {size} reviews inserted in {insert_s:.1f} s, "
                    f"indexed in {index_s:.1f} s",
                    file=sys.stderr,
                )
                figures = measure(partial(cold_search, service), queries, args.rounds)
                lines.append(row(f"{name:<10} search, {size:>7} reviews", figures))
                kept = measure(partial(service.search, limit=5), queries, args.rounds)
                lines.append(row(f"{name:<10} remembered, {size:>7} reviews", kept))
                if size == sizes[-1] and not args.no_baseline:
                    base = measure(partial(naive_search, sessions), queries, 1)
                    lines.append(row(f"{name:<10} LIKE baseline, {size:>7} reviews", base))
                    ratio = base["p50"] / figures["p50"], base["p99"] / figures["p99"]
                    lines.append(
                        f"{name:<10} baseline / search at {size} reviews: "
                        f"p50 x{ratio[0]:.1f}, p99 x{ratio[1]:.1f}"
                    )
            finally:
                engine.dispose()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=220, help="size of the query mix")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the mix")
    parser.add_argument("--baseline-reviews", type=int, default=10_000)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--work-dir", type=Path, help="for the SQLite files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schemas")
    args = parser.parse_args(argv)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="paperbot-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    lines = [
        f"search latency, {args.queries} queries x {args.rounds} rounds, "
        f"{dt.date.today().isoformat()}"
    ]
    try:
        if not args.no_sqlite:
            lines += bench_backend("sqlite", lambda name: sqlite_store(work, name), args)
        if not args.no_postgres:
            lines += bench_backend(
                "postgresql", lambda name: postgres_store(args.postgres_url, args.keep), args
            )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
