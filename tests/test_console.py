"""The conversation core through the local console, as a newcomer first meets it."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.app import Core
from bot.channels.console import run_console
from bot.core.conversation import Caller
from tests.support.cli import run_cli

SEED_TITLES_LATEST = [
    "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
    "LIMA: Less Is More for Alignment",
    "Scaling Laws for Neural Language Models",
]
SEED_TITLES_CLASSIC = [
    "Attention Is All You Need",
    "Training Language Models to Follow Instructions with Human Feedback",
]


def chat(core: Core, *lines: str, language: str = "zh") -> str:
    output = io.StringIO()
    source = io.StringIO("\n".join(lines) + "\n")
    status = asyncio.run(run_console(core.conversation, source, output, language))
    assert status == 0
    return output.getvalue()


def test_piped_console_lists_latest_and_classic_of_a_fresh_store(tmp_path: Path) -> None:
    """The README's promise: a fresh store is seeded from content/ on first start."""
    result = run_cli(["console"], tmp_path, stdin="/latest\n/classic\n")
    assert result.returncode == 0, result.stderr
    output = result.stdout
    for title in SEED_TITLES_LATEST + SEED_TITLES_CLASSIC:
        assert title in output
    latest, classic = output.split("经典论文回顾")
    assert all(title in latest for title in SEED_TITLES_LATEST)
    assert not any(title in latest for title in SEED_TITLES_CLASSIC)
    assert all(title in classic for title in SEED_TITLES_CLASSIC)
    assert (tmp_path / "data" / "paperbot.db").is_file()


def test_latest_lists_newest_first(seeded_core: Core) -> None:
    output = chat(seeded_core, "/latest")
    positions = [output.index(title) for title in SEED_TITLES_LATEST]
    assert positions == sorted(positions)


def test_reading_a_review_in_full_by_id_slug_and_arxiv_id(seeded_core: Core) -> None:
    review = seeded_core.reviews.find("2312.00752")
    assert review is not None
    for reference in (
        "1",  # item 1 of /latest (tests/test_review_numbers.py)
        review.slug,
        "2312.00752v2",
        "https://arxiv.org/abs/2312.00752",
    ):
        output = chat(seeded_core, f"/review {reference}")
        assert "【核心创新】" in output and "硬件感知算法设计" in output


def test_buttons_are_tapped_with_colon_number(seeded_core: Core) -> None:
    output = chat(seeded_core, "/classic", ":2")
    assert "Vaswani" in output.split("【Attention Is All You Need】")[-1]


def test_search_by_chinese_english_and_arxiv_id(seeded_core: Core) -> None:
    assert "LIMA" in chat(seeded_core, "/search 对齐")
    assert "Mamba" in chat(seeded_core, "mamba")
    assert "Scaling Laws" in chat(seeded_core, "2001.08361")
    assert "Attention Is All You Need" in chat(seeded_core, "Vaswani")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/search", "请在 /search 后面写上关键词"),
        ("/search    ", "请在 /search 后面写上关键词"),
        ("/frobnicate", "没有 /frobnicate 这个命令"),
        ("/review", "请写上编号、slug 或 arXiv 编号"),
        ("/review 99999", "你最近看到的列表里没有第 99999 篇"),
        ("量子纠缠咖啡机", "没有找到与「量子纠缠咖啡机」相关的解读"),
        (":7", "这个按钮已失效"),
    ],
)
def test_bad_input_gets_a_clear_answer(seeded_core: Core, line: str, expected: str) -> None:
    assert expected in chat(seeded_core, line)


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "(((", "a AND OR NOT", "x" * 10_000, "🙂🙃", "\x00\x07\x1b[31m", "%_%", "*"],
)
def test_hostile_queries_never_raise(seeded_core: Core, query: str) -> None:
    caller = Caller(channel="console", user_id="1", chat_id="1")
    replies = asyncio.run(seeded_core.conversation.handle_text(caller, query))
    assert replies, query[:20]


@pytest.mark.parametrize(
    "data",
    [
        "",
        "r",
        "r:abc",
        "r:99999",
        "p:latest:5:-1",
        "p:nowhere:5:0",
        "zz:1",
        "r:1:2:3:4:5:6",
        "s:deadbeef:0",
    ],
)
def test_forged_or_stale_button_data_gets_a_polite_answer(seeded_core: Core, data: str) -> None:
    caller = Caller(channel="console", user_id="1", chat_id="1")
    [reply] = asyncio.run(seeded_core.conversation.handle_action(caller, data))
    assert "这个按钮已失效" in reply.body.plain_text


def test_english_readers_get_english(seeded_core: Core) -> None:
    output = chat(seeded_core, "/latest", "/nope", language="en")
    assert "Latest reviews (3 in all)" in output
    assert "There is no /nope command" in output


def test_help_lists_every_menu_command(seeded_core: Core) -> None:
    output = chat(seeded_core, "/help")
    for command in seeded_core.registry.menu():
        assert f"/{command.name}" in output


def test_paging_through_a_long_section(core: Core, tmp_path: Path) -> None:
    source = "## 最新论文解读\n\n" + "".join(
        f"### Paper number {n}\n\n**链接**: https://arxiv.org/abs/2401.{n:05d}\n\nBody {n}.\n\n"
        for n in range(1, 13)
    )
    path = tmp_path / "many.txt"
    path.write_text(source, encoding="utf-8")
    core.reviews.import_files([path])
    first = chat(core, "/latest")
    assert "Paper number 1" in first and "Paper number 6" not in first
    assert "下一页 »" in first
    # Buttons: five read buttons, then "next" as the sixth.
    second = chat(core, "/latest", ":6").split("【最新论文解读（共 12 篇）】")[-1]
    assert "Paper number 6" in second and "Paper number 10" in second
    assert "Paper number 5\n" not in second
