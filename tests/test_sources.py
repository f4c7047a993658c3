"""Parsing the column's document format and front-matter Markdown (no database)."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.richtext import markdown_to_rich, parse_inline
from bot.core.sources import (
    PaperDate,
    ReviewFormatError,
    _meta_line,
    make_slug,
    parse_arxiv_id,
    parse_column,
    parse_paper_date,
    parse_tags,
    parse_text,
    read_source,
)
from tests.support.paths import DATA_DIR


def test_seed_reads_as_five_reviews_in_two_sections(seed_file: Path) -> None:
    reviews = read_source(seed_file)
    assert [(r.section, r.arxiv_id) for r in reviews] == [
        ("latest", "2312.00752"),
        ("latest", "2305.11206"),
        ("latest", "2001.08361"),
        ("classic", "1706.03762"),
        ("classic", "2203.02155"),
    ]
    mamba = reviews[0]
    assert mamba.title == "Mamba: Linear-Time Sequence Modeling with Selective State Spaces"
    assert mamba.authors == "Albert Gu, Tri Dao (CMU & Stanford)"
    assert mamba.paper_date == PaperDate(dt.date(2023, 12, 1), "month")
    assert mamba.body.startswith("#### 核心创新")
    assert mamba.body.rstrip().endswith("降低训练和推理成本。")
    # The column's closing line after the last separator belongs to no review.
    assert "敬请关注" not in reviews[-1].body


def test_another_issue_with_fullwidth_colons_pdf_links_and_missing_lines() -> None:
    reviews = read_source(DATA_DIR / "column_issue_002.txt")
    by_id = {review.arxiv_id: review for review in reviews}
    assert set(by_id) == {"2305.18290", "2106.09685", "2201.11903"}
    dpo = by_id["2305.18290"]
    assert dpo.paper_date == PaperDate(dt.date(2023, 5, 1), "month")
    assert dpo.authors == "Rafael Rafailov, Archit Sharma, Eric Mitchell等 (Stanford)"
    lora = by_id["2106.09685"]
    assert lora.paper_date is None  # the optional 发表时间 line is missing
    assert lora.authors == "Edward J. Hu, Yelong Shen等 (Microsoft)"
    cot = by_id["2201.11903"]
    assert cot.section == "classic"
    assert cot.paper_date == PaperDate(dt.date(2022, 1, 28), "day")
    assert "下期再见" not in cot.body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://arxiv.org/abs/2312.00752", "2312.00752"),
        ("https://arxiv.org/abs/2312.00752v2", "2312.00752"),
        ("https://arxiv.org/pdf/2312.00752v3.pdf", "2312.00752"),
        ("https://arxiv.org/pdf/2312.00752", "2312.00752"),
        ("[arXiv:2312.00752](https://arxiv.org/abs/2312.00752)", "2312.00752"),
        ("arXiv：2401.12345v1", "2401.12345"),
        ("2401.12345", "2401.12345"),
        ("https://arxiv.org/abs/hep-th/9901001v1", "hep-th/9901001"),
        ("https://example.com/2312.00752", None),
    ],
)
def test_arxiv_ids_lose_their_version(value: str, expected: str | None) -> None:
    assert parse_arxiv_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023年12月", PaperDate(dt.date(2023, 12, 1), "month")),
        ("2023 年 6 月", PaperDate(dt.date(2023, 6, 1), "month")),
        ("2022年1月28日", PaperDate(dt.date(2022, 1, 28), "day")),
        ("2020年", PaperDate(dt.date(2020, 1, 1), "year")),
        ("2023-12", PaperDate(dt.date(2023, 12, 1), "month")),
        ("2023/12/05", PaperDate(dt.date(2023, 12, 5), "day")),
        ("Dec 2023", PaperDate(dt.date(2023, 12, 1), "month")),
        ("５ June 2017", PaperDate(dt.date(2017, 6, 5), "day")),
        (dt.date(2023, 2, 9), PaperDate(dt.date(2023, 2, 9), "day")),
    ],
)
def test_dates_as_editors_write_them(value: object, expected: PaperDate) -> None:
    assert parse_paper_date(value) == expected


@pytest.mark.parametrize("value", ["2023年13月", "soon", "2023-02-30", "12/2023"])
def test_dates_that_do_not_parse_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cannot read the date"):
        parse_paper_date(value)


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("bad_date.txt", 11, "cannot read the date '2023年13月'"),
        ("no_title.txt", 9, "a review without a title"),
        ("not_arxiv.txt", 5, "https://example.com/post is not an arXiv link"),
        ("not_utf8.txt", 3, "not UTF-8 text"),
        ("front_matter_bad_key.md", 4, "unknown front-matter key 'sektion'"),
    ],
)
def test_bad_sources_name_file_and_line(name: str, line: int, message: str) -> None:
    path = DATA_DIR / name
    with pytest.raises(ReviewFormatError) as caught:
        read_source(path)
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_review_before_any_section_is_refused() -> None:
    # A document with sections needs one above each review; a lone block copied from
    # the column (no `##` at all) is a "latest" review (tests/test_editor_shell.py).
    with pytest.raises(ReviewFormatError, match="before any section heading"):
        parse_column("# 论文解读\n\n### Orphan\n\nbody\n\n## 经典论文回顾\n\n### B\n\nb\n", "x.md")


def test_unknown_section_is_refused() -> None:
    with pytest.raises(ReviewFormatError, match="unknown section '杂谈'"):
        parse_column("## 杂谈\n\n### Something\n", "x.md")


def test_a_document_without_reviews_is_refused() -> None:
    with pytest.raises(ReviewFormatError, match="no reviews found"):
        parse_text("just some notes\n", "notes.txt")


def test_the_same_paper_twice_in_one_file_is_refused() -> None:
    source = (
        "## 最新论文解读\n### One\n**链接**: https://arxiv.org/abs/2401.00001\n"
        "### Two\n**链接**: https://arxiv.org/abs/2401.00001v2\n"
    )
    with pytest.raises(ReviewFormatError, match=r"repeats 2401\.00001"):
        parse_column(source, "x.md")


def test_front_matter_review() -> None:
    [review] = read_source(DATA_DIR / "front_matter_review.md")
    assert review.title == "Toolformer: Language Models Can Teach Themselves to Use Tools"
    assert review.arxiv_id == "2302.04761"
    assert review.authors == "Timo Schick, Jane Dwivedi-Yu"
    assert review.paper_date == PaperDate(dt.date(2023, 2, 9), "day")
    assert review.tags == ["工具使用", "agent"]
    assert review.body.startswith("#### 核心思想")


def test_front_matter_without_title_is_refused() -> None:
    with pytest.raises(ReviewFormatError, match="without a title"):
        parse_text("---\narxiv_id: 2401.00001\n---\nbody\n", "x.md")


def test_front_matter_yaml_error_names_its_line() -> None:
    with pytest.raises(ReviewFormatError) as caught:
        parse_text("---\ntitle: ok\ntags: [unclosed\n---\nbody\n", "x.md")
    assert caught.value.line is not None and caught.value.line >= 3


def test_slugs_are_short_and_safe() -> None:
    slug = make_slug("Mamba: Linear-Time Sequence Modeling with Selective State Spaces")
    assert slug == "mamba-linear-time-sequence-modeling"
    assert make_slug("人类反馈强化学习", "2203.02155") == "arxiv-2203-02155"
    assert make_slug("中文标题").startswith("review-")


# --- hostile input: limits, and parsing in linear time (issue #8) ---------------------


def test_a_meta_line_of_stars_and_spaces_is_read_at_once() -> None:
    """`**` and 400 spaces without a closing `**` took 15 s in the old pattern."""
    source = "## 最新论文解读\n### A review\n**" + " " * 400 + "x\n**作者**: Ada\n"
    started = time.perf_counter()
    [review] = parse_column(source, "x.md")
    assert time.perf_counter() - started < 1.0
    # Not a metadata line: it opens the body, so the 作者 line below is body text too.
    assert review.body.startswith("**") and review.authors is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("**作者**: Ada Lovelace", ("authors", "Ada Lovelace")),
        ("- **发表时间：** 2023年12月", ("date", "2023年12月")),
        (
            "* **链接**：https://arxiv.org/abs/2401.00001 ",
            ("link", "https://arxiv.org/abs/2401.00001"),
        ),
        ("**Tags:** a, b", ("tags", "a, b")),
        ("  **摘要** ：  短  ", ("summary", "短")),
        ("**作者**", ("authors", "")),
        ("**未知**: x", None),
        ("**作者*: x", None),
        ("***作者**: x", None),
        ("-**作者**: x", None),
        ("**作者: x", None),
    ],
)
def test_metadata_lines_read_as_before(line: str, expected: tuple[str, str] | None) -> None:
    assert _meta_line(line) == expected


_ADVERSARIAL_FILLS = [
    " ", "\t", "*", "**a", ":", "：", "[", "](", "[a](", "#", "# ", "-", "_", "`", "a ",
    "a.", "A", "arxiv:", "**作者**: ", "- ", "http://x", "中文", "** **", "\\", "<",
]  # fmt: skip
_PREFIXES = ["", "**", "- **", "## ", "### ", "#### ", "[", "**作者**: a", "`", "*", "> "]
_SUFFIXES = ["", "x", "**", "#", "]", ")", " #"]
#: Generous on a shared 2-core machine: 2 s of CPU for 100,000 characters. The worst
#: case here (one bold span per three characters) takes about 5 µs a character, 11 µs
#: with the whole suite running beside other helpers' work; the patterns this replaced
#: took 15 s for 400 characters and grew with the square or the cube of the length.
_SECONDS_PER_CHAR = 2.0 / 100_000


def _parsers() -> list[tuple[str, Callable[[str], object]]]:
    def column(line: str) -> object:
        try:
            return parse_column(f"## 最新论文解读\n### A review\n{line}\n", "x.md")
        except ReviewFormatError as exc:
            return exc

    def tags(line: str) -> object:
        try:
            return parse_tags(line)
        except ValueError as exc:
            return exc

    return [
        ("column", column),
        ("markdown", markdown_to_rich),
        ("inline", parse_inline),
        ("arxiv", parse_arxiv_id),
        ("tags", tags),
        ("authors", lambda line: re.sub(r"\s+", " ", line)),
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(prefix="**", fill=" ", size=300, suffix="x")  # ~2 s in the old pattern
@example(prefix="### a", fill=" ", size=3_000, suffix="b")
@example(prefix="", fill="[", size=20_000, suffix="")
@given(
    prefix=st.sampled_from(_PREFIXES),
    fill=st.sampled_from(_ADVERSARIAL_FILLS),
    size=st.integers(min_value=1_000, max_value=100_000),
    suffix=st.sampled_from(_SUFFIXES),
)
def test_long_adversarial_lines_parse_in_linear_time(
    prefix: str, fill: str, size: int, suffix: str
) -> None:
    line = prefix + fill * (size // len(fill)) + suffix
    for name, parse in _parsers():
        # CPU time, not wall-clock: being descheduled on a busy machine is not slowness.
        started = time.process_time()
        parse(line)
        elapsed = time.process_time() - started
        assert elapsed < 0.05 + _SECONDS_PER_CHAR * len(line), (
            f"{name} took {elapsed:.3f} s for {len(line):,} characters "
            f"({prefix!r} + {fill!r} * n + {suffix!r})"
        )
