"""Search: Chinese and English, ids, authors, aliases, typos, ranking, hostile input, and
an index that follows every change, on a real SQLite file and a real PostgreSQL.

The relevance test loads content/ plus tests/data/relevance/ and checks recall@1 and
recall@3 over tests/data/relevance_queries.yaml; `-s` prints the figures.
"""

from __future__ import annotations

import random
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from bot.app import Core, build_core
from bot.core import search as search_module
from bot.core.search import SearchPage, parse_query
from bot.core.search import ranker as ranker_module
from bot.core.search_index import INDEX_VERSION, IndexStore
from bot.core.search_text import fold, text_tokens
from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.models import Review
from tests.support.paths import DATA_DIR, REPO_DIR
from tests.support.stores import make_settings

RELEVANCE_DIR = DATA_DIR / "relevance"
RELEVANCE_QUERIES = DATA_DIR / "relevance_queries.yaml"


def slugs(core: Core, query: str, limit: int = 5, offset: int = 0) -> list[str]:
    return [item.slug for item in core.search.search(query, limit, offset).items]


def write_review(
    directory: Path,
    slug: str,
    *,
    title: str,
    body: str,
    tags: tuple[str, ...] = (),
    arxiv_id: str | None = None,
    authors: str = "Ada Lovelace (Analytical Engines)",
    summary: str = "一篇用于测试的解读。",
    status: str = "published",
) -> Path:
    front = {
        "title": title,
        "slug": slug,
        "authors": authors,
        "date": "2024-01",
        "section": "latest",
        "tags": list(tags),
        "status": status,
        "summary": summary,
    }
    if arxiv_id:
        front["arxiv_id"] = arxiv_id
    path = directory / f"{slug}.md"
    path.write_text(
        "---\n" + yaml.safe_dump(front, allow_unicode=True) + "---\n\n#### 正文\n\n" + body + "\n",
        encoding="utf-8",
    )
    return path


def load(core: Core, *paths: Path) -> None:
    reports = core.reviews.import_files(list(paths))
    assert not [report.error for report in reports if report.error]


# --- tokenizing and parsing (no database) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("对齐方法", ["对齐", "齐方", "方法"]),
        ("GPT-3", ["gpt", "3", "gpt3"]),
        ("FlashAttention", ["flash", "attention", "flashattention"]),
        ("Transformers", ["transformer"]),
        ("ＲＬＨＦ", ["rlhf"]),
        ("arXiv:2312.00752v2", ["231200752"]),
        ("https://arxiv.org/pdf/2312.00752v1.pdf", ["231200752"]),
        ("🙂 %_% \x00 * ^ : (", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert text_tokens(text) == expected


def test_the_fast_path_of_fold_is_exact() -> None:
    def reference(value: str) -> str:
        value = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", value))
        kept = "".join(ch for ch in value if unicodedata.category(ch) != "Mn")
        return unicodedata.normalize("NFC", kept)

    rng = random.Random(5)
    ranges = [(0x20, 0x250), (0x2000, 0x2070), (0x3000, 0x3100), (0x4E00, 0x4E40)]
    ranges += [(0xFF00, 0xFFEF), (0xF900, 0xF910), (0x300, 0x310)]
    pool = [chr(code) for low, high in ranges for code in range(low, high)]
    for _ in range(20_000):
        value = "".join(rng.choice(pool) for _ in range(rng.randint(1, 8)))
        assert fold(value) == reference(value), repr(value)


def test_a_chinese_compound_that_holds_an_alias_keeps_its_parts() -> None:
    [group] = parse_query("幽灵注意力", search_module.AliasMatcher([("注意力", 1), ("x y", 1)]))
    assert group.alternatives[0].tokens == ("幽灵", "灵注", "注意", "意力")
    assert group.split is not None
    assert [part.label for part in group.split] == ["注意力", "幽灵"]


# --- finding -----------------------------------------------------------------------------


def test_two_character_chinese_words_find_longer_phrases(core: Core, tmp_path: Path) -> None:
    load(
        core,
        write_review(tmp_path, "aa", title="Paper A", body="本文比较了几种对齐方法。"),
        write_review(tmp_path, "bb", title="Paper B", body="微调之后对齐效果明显更好。"),
        write_review(tmp_path, "cc", title="Paper C", body="这里讨论的是整齐的排版。"),
    )
    assert sorted(slugs(core, "对齐")) == ["aa", "bb"]
    assert slugs(core, "对齐方法") == ["aa"]
    assert slugs(core, "对齐效果") == ["bb"]


def test_english_is_case_insensitive(seeded_core: Core) -> None:
    expected = slugs(seeded_core, "mamba")
    assert expected[0] == "mamba-linear-time-sequence-modeling"
    for query in ("MAMBA", "Mamba", "mAmBa", "Ｍａｍｂａ"):
        assert slugs(seeded_core, query) == expected


@pytest.mark.parametrize(
    "query",
    [
        "2312.00752",
        "2312.00752v2",
        "arXiv:2312.00752",
        "arxiv：2312.00752v1",
        "https://arxiv.org/abs/2312.00752",
        "https://arxiv.org/abs/2312.00752v2",
        "http://arxiv.org/pdf/2312.00752v2.pdf",
        "Mamba 2312.00752",
    ],
)
def test_arxiv_ids_with_or_without_version_or_url(seeded_core: Core, query: str) -> None:
    assert slugs(seeded_core, query)[0] == "mamba-linear-time-sequence-modeling"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Vaswani", "attention-is-all-you-need"),
        ("Ashish Vaswani", "attention-is-all-you-need"),
        ("vaswani ashish", "attention-is-all-you-need"),
        ("Gu", "mamba-linear-time-sequence-modeling"),
        ("Albert Gu", "mamba-linear-time-sequence-modeling"),
        ("Tri Dao", "mamba-linear-time-sequence-modeling"),
        ("Kaplan", "scaling-laws-for-neural-language-models"),
        ("Long Ouyang", "training-language-models-to-follow"),
    ],
)
def test_authors_by_surname_or_full_name(seeded_core: Core, query: str, expected: str) -> None:
    assert slugs(seeded_core, query)[0] == expected


def test_title_tag_and_id_hits_rank_above_body_hits(core: Core, tmp_path: Path) -> None:
    load(
        core,
        write_review(tmp_path, "in-body", title="Other", body="顺便提到 Zephyrion 一次。"),
        write_review(tmp_path, "in-title", title="The Zephyrion Method", body="无关内容。"),
        write_review(tmp_path, "in-tags", title="Other", body="无关。", tags=("Zephyrion",)),
        write_review(
            tmp_path, "cites", title="Citing", body="它引用了 arXiv:2401.99999 这篇论文。"
        ),
        write_review(tmp_path, "has-id", title="Some paper", body="正文。", arxiv_id="2401.99999"),
    )
    found = slugs(core, "zephyrion")
    assert set(found[:2]) == {"in-title", "in-tags"}
    assert found[2] == "in-body"
    assert slugs(core, "2401.99999") == ["has-id", "cites"]


def test_unpublished_reviews_are_not_found(core: Core, tmp_path: Path) -> None:
    draft = write_review(tmp_path, "secret", title="Quokkaformer", body="秘密。", status="draft")
    load(core, draft)
    assert core.search.search("quokkaformer").total == 0
    load(core, write_review(tmp_path, "secret", title="Quokkaformer", body="秘密。"))
    assert slugs(core, "quokkaformer") == ["secret"]
    queued = write_review(tmp_path, "secret", title="Quokkaformer", body="秘密。", status="queued")
    load(core, queued)
    assert core.search.search("quokkaformer").total == 0
    assert core.search.search("秘密").total == 0


def test_a_status_change_through_the_orm_is_indexed(core: Core, tmp_path: Path) -> None:
    """What the editors' queue does: load the row, set its status, commit."""
    load(core, write_review(tmp_path, "queued", title="Pangolin", body="穿山甲。", status="queued"))
    assert core.search.search("pangolin").total == 0
    with core.sessions.begin() as session:
        row = session.scalars(select(Review).where(Review.slug == "queued")).one()
        row.status = "published"
    assert slugs(core, "pangolin") == ["queued"]
    assert slugs(core, "穿山甲") == ["queued"]
    with core.sessions.begin() as session:
        session.scalars(select(Review).where(Review.slug == "queued")).one().status = "draft"
    assert core.search.search("pangolin").total == 0


def test_the_index_follows_a_reimport_that_changes_a_review(core: Core, tmp_path: Path) -> None:
    load(core, write_review(tmp_path, "rr", title="Old title", body="讲的是蝴蝶效应。"))
    assert slugs(core, "蝴蝶") == ["rr"]
    load(core, write_review(tmp_path, "rr", title="New title", body="讲的是量子隧穿。"))
    assert slugs(core, "量子隧穿") == ["rr"]
    assert slugs(core, "new title") == ["rr"]
    assert core.search.search("蝴蝶").total == 0
    assert core.search.search("old").total == 0


def test_a_deleted_review_leaves_the_index(core: Core, tmp_path: Path) -> None:
    load(core, write_review(tmp_path, "gone", title="Vanishing Act", body="消失的魔术。"))
    assert slugs(core, "vanishing") == ["gone"]
    with core.sessions.begin() as session:
        session.delete(session.scalars(select(Review).where(Review.slug == "gone")).one())
    assert core.search.search("vanishing").total == 0
    assert core.search.search("魔术").total == 0
    with core.sessions() as session:
        store = IndexStore(session.connection())
        assert store.state()["docs"] == 0
        assert store.dfs(["vanishing", "魔术"]) == {}


def test_a_failed_import_leaves_the_index_as_it_was(core: Core, tmp_path: Path) -> None:
    load(core, write_review(tmp_path, "kept", title="Steady Paper", body="稳定。"))
    with pytest.raises(RuntimeError), core.sessions.begin() as session:
        review = session.scalars(select(Review).where(Review.slug == "kept")).one()
        review.title = "Changed Paper"
        session.flush()  # the index is updated here, in the same transaction ...
        raise RuntimeError("... which is rolled back")
    assert slugs(core, "steady") == ["kept"]
    assert core.search.search("changed").total == 0


# --- typos and aliases -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mamaba", "mamba-linear-time-sequence-modeling"),
        ("Mambda", "mamba-linear-time-sequence-modeling"),
        ("tranformer", "attention-is-all-you-need"),
        ("atention is all you need", "attention-is-all-you-need"),
        ("instrutions human feedback", "training-language-models-to-follow"),
    ],
)
def test_latin_typos_are_forgiven(seeded_core: Core, query: str, expected: str) -> None:
    assert slugs(seeded_core, query)[0] == expected


def test_a_correct_word_is_not_corrected_away(seeded_core: Core) -> None:
    assert slugs(seeded_core, "mamba") == ["mamba-linear-time-sequence-modeling"]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("RLHF", "人类反馈强化学习"),
        ("scaling law", "缩放定律"),
        ("缩放规律", "scaling laws"),
        ("SFT", "监督微调"),
        ("DPO", "直接偏好优化"),
        ("SSM", "状态空间模型"),
        ("CoT", "思维链"),
        ("LLM", "大语言模型"),
        ("大模型", "large language model"),
    ],
)
def test_aliases_work_both_ways(core: Core, tmp_path: Path, one: str, other: str) -> None:
    load(
        core,
        write_review(tmp_path, "one", title="First", body=f"这篇讲 {one} 的细节。"),
        write_review(tmp_path, "other", title="Second", body=f"这篇讲{other}的细节。"),
    )
    assert set(slugs(core, one)) == {"one", "other"}
    assert set(slugs(core, other)) == {"one", "other"}
    # The spelling the reader used ranks first.
    assert slugs(core, one)[0] == "one"
    assert slugs(core, other)[0] == "other"


def test_editors_add_and_remove_aliases(core: Core, tmp_path: Path) -> None:
    load(core, write_review(tmp_path, "kv", title="Serving", body="借鉴虚拟内存的分页。"))
    assert core.search.search("virtual memory").total == 0
    group = core.search.add_aliases("virtual memory", ["虚拟内存", "VM分页"])
    assert group == ["virtual memory", "虚拟内存", "VM分页"]
    assert slugs(core, "virtual memory") == ["kv"]
    assert slugs(core, "VM分页") == ["kv"]
    # Naming members of two groups joins the groups.
    merged = core.search.add_aliases("vm分页", ["RLHF"])
    assert {"RLHF", "人类反馈强化学习", "virtual memory", "虚拟内存", "VM分页"} <= set(merged)
    assert sum("RLHF" in group for group in core.search.list_aliases()) == 1
    assert slugs(core, "rlhf") == ["kv"]
    rest = core.search.remove_alias("rlhf")
    assert rest is not None and "RLHF" not in rest and "virtual memory" in rest
    assert core.search.search("RLHF").total == 0
    assert core.search.remove_alias("nonexistent") is None
    with pytest.raises(ValueError, match="synonym"):
        core.search.add_aliases("same", ["SAME"])
    with pytest.raises(ValueError, match="searchable"):
        core.search.add_aliases("书", ["book"])


def test_removing_the_last_synonym_removes_the_group(core: Core) -> None:
    before = len(core.search.list_aliases())
    core.search.add_aliases("Quokka", ["袋鼠鼠"])
    assert len(core.search.list_aliases()) == before + 1
    assert core.search.remove_alias("袋鼠鼠") == []
    assert len(core.search.list_aliases()) == before
    assert core.search.remove_alias("quokka") is None


def test_the_aliases_cli(tmp_path: Path) -> None:
    from tests.support.cli import run_cli

    listed = run_cli(["aliases", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "RLHF ⇄ 人类反馈强化学习" in listed.stdout
    added = run_cli(["aliases", "add", "虚拟内存", "virtual memory"], tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "虚拟内存 ⇄ virtual memory"
    assert "虚拟内存 ⇄ virtual memory" in run_cli(["aliases", "list"], tmp_path).stdout
    removed = run_cli(["aliases", "remove", "virtual memory"], tmp_path)
    assert removed.returncode == 0 and "removed virtual memory" in removed.stdout
    missing = run_cli(["aliases", "remove", "nothing-like-it"], tmp_path)
    assert missing.returncode == 1 and "no alias" in missing.stderr
    lonely = run_cli(["aliases", "add", "RLHF"], tmp_path)
    assert lonely.returncode == 2


# --- hostile input -----------------------------------------------------------------

HOSTILE = [
    "",
    "   ",
    '"unbalanced',
    '""',
    "(((",
    ")))",
    "a AND OR NOT",
    "AND",
    "NOT mamba",
    "mamba OR",
    "NEAR(mamba transformer, 2)",
    "mamba*",
    "*",
    "^mamba",
    "title:mamba",
    "{title}: mamba",
    "- mamba",
    "'; DROP TABLE reviews; --",
    "%",
    "_",
    "%_%",
    "100%",
    "\\",
    "\\x00",
    "x" * 10_000,
    "对齐 " * 3_000,
    "mamba " * 2_000,
    "🙂🙃",
    "🙂 mamba 🙃",
    "\x00\x07\x1b[31m",
    "\ud800",
    "\u200b\u200e\ufeff",
    "‮mamba",
    "ⅿⅰⅹ",
    "ﷺ",
    "𠀀𠀁𠀂",
    "mamba:*",
    "'mamba'",
    "a & b | !c <-> d",
    "'a':* & 'b':AB",
]


@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q[:20]))
def test_hostile_input_returns_a_page(seeded_core: Core, query: str) -> None:
    page = seeded_core.search.search(query, 5)
    assert isinstance(page, SearchPage)
    assert page.total >= len(page.items)


@pytest.mark.parametrize("query", ["%", "_", "%_%", "__", "%%"])
def test_sql_wildcards_are_not_wildcards(seeded_core: Core, query: str) -> None:
    assert seeded_core.search.search(query).total == 0


def test_operators_are_plain_words(seeded_core: Core) -> None:
    assert slugs(seeded_core, "NOT mamba") == slugs(seeded_core, "mamba")
    assert slugs(seeded_core, "mamba*") == slugs(seeded_core, "mamba")
    assert slugs(seeded_core, '"mamba"') == slugs(seeded_core, "mamba")


def test_random_input_never_raises(seeded_core: Core) -> None:
    rng = random.Random(20261130)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789 \"'()*^:-+%_&|!<>\\/.,;@#$~`{}[]"
        "对齐注意力模型缩放定律的了和是 。，、！？（）「」🙂👍🏽\u200d\x00\x1b\t\n"
    )
    for _ in range(150):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        page = seeded_core.search.search(query, rng.randint(1, 10), rng.randint(0, 3))
        assert page.total >= len(page.items)


def test_limits_and_offsets_are_sane(seeded_core: Core) -> None:
    everything = seeded_core.search.search("模型", 50)
    assert everything.total == len(everything.items) > 1
    assert not everything.has_more
    first = seeded_core.search.search("模型", 1, 0)
    assert first.has_more and first.total == everything.total
    assert [i.slug for i in seeded_core.search.search("模型", 2, 1).items] == [
        i.slug for i in everything.items[1:3]
    ]
    assert seeded_core.search.search("模型", 5, 10_000).items == ()
    assert seeded_core.search.search("模型", -3, -4).items  # clamped, not an error


# --- scale behaviour (small data, small limits) --------------------------------------


def test_common_terms_still_find_body_only_matches(
    core: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A term too common to drive a body scan is still looked up among the newest
    reviews when the head finds too little."""
    monkeypatch.setattr(ranker_module, "BODY_SCAN_MAX_DF", 1)
    monkeypatch.setattr(ranker_module, "BODY_WINDOW", 2)
    load(
        core,
        *(
            write_review(tmp_path, f"r{n}", title=f"Paper {n}", body="正文里有蜂鸟。")
            for n in range(4)
        ),
    )
    found = slugs(core, "蜂鸟", 10)
    assert found == ["r3", "r2"]  # the newest two: the window


def test_results_are_capped(core: Core, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranker_module, "MAX_RESULTS", 3)
    for n in range(5):
        load(core, write_review(tmp_path, f"p{n}", title=f"Heron {n}", body="鹭。"))
    page = core.search.search("heron", 2)
    assert page.total == 3 and page.has_more
    assert core.search.search("heron", 2, 2).items[0].slug in {"p0", "p1", "p2", "p3", "p4"}


# --- maintenance -------------------------------------------------------------------


def test_a_store_from_before_search_is_indexed_on_start(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO reviews (slug, title, authors, section, tags, body, summary, "
                "status, content_hash, created_at, updated_at, arxiv_id) VALUES ('old', "
                "'An Old Review of Ptarmigans', 'Someone', 'latest', '[\"雷鸟\"]', '旧的正文。', "
                "'', 'published', '', '2024-01-01 00:00:00', '2024-01-01 00:00:00', "
                "'2101.00001')"
            )
        )
    engine.dispose()
    core = build_core(make_settings(database_url, tmp_path), seed=False)
    try:
        assert slugs(core, "ptarmigan") == ["old"]
        assert slugs(core, "雷鸟") == ["old"]
        assert slugs(core, "2101.00001v3") == ["old"]
        with core.sessions() as session:
            state = IndexStore(session.connection()).state()
        assert state["version"] == INDEX_VERSION and state["docs"] == 1
    finally:
        core.close()


def test_an_index_changed_behind_the_orms_back_is_rebuilt_on_start(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    core = build_core(settings, seed=True)
    with core.engine.begin() as connection:
        connection.execute(text("DELETE FROM reviews WHERE slug = 'attention-is-all-you-need'"))
    core.close()
    core = build_core(settings, seed=True)
    try:
        assert "attention-is-all-you-need" not in slugs(core, "transformer", 10)
        assert slugs(core, "mamba") == ["mamba-linear-time-sequence-modeling"]
    finally:
        core.close()


# --- both backends -------------------------------------------------------------------


def relevance_queries() -> list[dict[str, Any]]:
    """The relevance set's queries that expect a review, `expect` as a list of slugs."""
    queries = yaml.safe_load(RELEVANCE_QUERIES.read_text(encoding="utf-8"))
    assert len(queries) >= 40
    cases = []
    for case in queries:
        expect = case.get("expect")
        if expect is None:
            continue
        cases.append({**case, "expect": [expect] if isinstance(expect, str) else expect})
    return cases


@pytest.fixture
def relevance_core(seeded_core: Core) -> Iterator[Core]:
    load(seeded_core, RELEVANCE_DIR)
    assert seeded_core.reviews.count() >= 25
    yield seeded_core


def test_relevance(relevance_core: Core, database_url: str) -> None:
    queries = relevance_queries()
    slugs_known = {review.slug for review in relevance_core.reviews.all()}
    at1 = at3 = 0
    misses = []
    for case in queries:
        assert set(case["expect"]) <= slugs_known, case
        found = slugs(relevance_core, str(case["query"]), 3)
        at1 += bool(found) and found[0] in case["expect"]
        at3 += any(slug in case["expect"] for slug in found)
        if not found or found[0] not in case["expect"]:
            misses.append(f"{case['query']!r} → {found} (want {case['expect'][0]})")
    recall1, recall3 = at1 / len(queries), at3 / len(queries)
    backend = database_url.split(":")[0].split("+")[0]
    report = (
        f"{backend}: recall@1 = {recall1:.3f}, recall@3 = {recall3:.3f} over {len(queries)} "
        f"queries; misses at 1: {misses or 'none'}"
    )
    print("\n" + report)
    assert recall1 >= 0.8 and recall3 >= 0.95, report


def test_both_backends_give_the_same_results(
    sqlite_url: str, postgres_schema_url: str, tmp_path: Path
) -> None:
    queries = [str(case["query"]) for case in yaml.safe_load(RELEVANCE_QUERIES.read_text("utf-8"))]
    queries += ["模型", "language", "transformer", "对齐", "大模型的对齐方法", "对齐效果好"]
    queries += [q for q in HOSTILE if len(q) < 100]
    results = []
    for n, url in enumerate((sqlite_url, postgres_schema_url)):
        core = build_core(make_settings(url, tmp_path / str(n)), seed=True)
        try:
            load(core, RELEVANCE_DIR)
            results.append(
                [
                    (page.total, [item.slug for item in page.items])
                    for page in (core.search.search(q, 10) for q in queries)
                ]
            )
        finally:
            core.close()
    differences = [
        (query, lite, postgres)
        for query, lite, postgres in zip(queries, *results, strict=True)
        if lite != postgres
    ]
    assert differences == []


# --- the benchmark must not rot ----------------------------------------------------------


def test_the_benchmark_runs(tmp_path: Path) -> None:
    from tests.support.stores import _postgres_problem, postgres_url

    command = [sys.executable, str(REPO_DIR / "bench" / "search_latency.py"), "--reviews", "300"]
    command += ["--queries", "40", "--baseline-reviews", "300", "--work-dir", str(tmp_path)]
    if _postgres_problem() is None:
        command += ["--postgres-url", postgres_url()]
    else:
        command += ["--no-postgres"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "p99" in result.stdout and "sqlite" in result.stdout
