"""The conversation core through the local console, as a newcomer first meets it."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

import pytest

from bot.app import Core
from bot.channels.console import run_console
from bot.core.conversation import Caller
from tests.support.cli import PAPERBOT, run_cli

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
        (":7", "上一条回复没有按钮"),
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


# --- #12 point 11: a console that behaves like a terminal program ---------------------


def test_colon_n_on_a_url_button_prints_the_url(seeded_core: Core) -> None:
    review = seeded_core.reviews.find("2312.00752")
    assert review is not None and review.arxiv_url
    # /review shows one button: the arXiv paper's URL.
    output = chat(seeded_core, "/review 2312.00752", ":1")
    assert output.rstrip().endswith(f"链接：{review.arxiv_url}")
    assert "这个按钮已失效" not in output


def test_colon_n_beyond_the_buttons_says_how_many_there_are(seeded_core: Core) -> None:
    output = chat(seeded_core, "/classic", ":9", ":2")
    assert "没有按钮 9：上一条回复只有 2 个按钮。" in output
    # The miss keeps the list's buttons: :2 still opens the second classic.
    assert "Vaswani" in output.split("没有按钮 9")[-1]
    english = chat(seeded_core, ":3", language="en")
    assert "The last reply has no buttons, so there is no :3 to tap." in english


def test_the_console_user_is_not_counted_as_a_subscriber(seeded_core: Core) -> None:
    chat(seeded_core, "/start", "/subscribe")
    subscriber = seeded_core.subscriptions.get("console", "0")
    assert subscriber is not None and subscriber.status == "active"
    assert seeded_core.subscriptions.counts_by_status().get("active", 0) == 0
    seeded_core.subscriptions.subscribe("telegram", "99", "private", "zh")
    admin = Caller(channel="console", user_id="0", chat_id="0", trusted=True)
    [reply] = asyncio.run(seeded_core.conversation.handle_text(admin, "/stats"))
    assert "订阅者：1 活跃" in reply.body.plain_text


def _terminal_session(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`paperbot console` on a pseudo-terminal, as a person at a terminal runs it."""
    master, slave = pty.openpty()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_", "PUSH_", "ARXIV_"))
    }
    environment.update({"DATA_DIR": str(tmp_path / "data"), "TERM": "xterm"})
    process = subprocess.Popen(
        [str(PAPERBOT), "console"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env=environment,
        start_new_session=True,
        # The terminal becomes the session's controlling terminal, so that Ctrl-C
        # typed on it is a SIGINT, as at a real terminal.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    return process, master


class _Terminal:
    """What the console printed, and how far the test has read it: each wait looks from
    the end of the last thing found, not from the last chunk read, because one chunk
    may hold a reply and the prompt after it."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.seen = bytearray()
        self.read_to = 0

    def until(self, wanted: bytes, timeout: float = 60) -> bytes:
        """Read until `wanted` appears after what was read before; what came up to it."""
        deadline = time.monotonic() + timeout
        while (found := self.seen.find(wanted, self.read_to)) < 0:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {wanted!r} in {bytes(self.seen[self.read_to :])[-400:]!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process closed the terminal
                    chunk = b""
                assert chunk, f"terminal closed before {wanted!r}: {bytes(self.seen)[-400:]!r}"
                self.seen.extend(chunk)
        start, self.read_to = self.read_to, found + len(wanted)
        return bytes(self.seen[start : self.read_to])


def _process_state(pid: int) -> str:
    """What the kernel says the process is doing (state and wait channel), for a hang."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError as exc:
        return f"no /proc entry ({exc})"
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return f"{state.strip()}, waiting in {wchan or '?'}"


def test_a_terminal_session_has_history_and_ctrl_c_ends_it_at_once(tmp_path: Path) -> None:
    process, master = _terminal_session(tmp_path)
    terminal = _Terminal(master)
    try:
        # Start-up migrates and seeds a fresh store: slow on a loaded machine.
        try:
            terminal.until(b"> ", timeout=180)
        except AssertionError as exc:  # a start-up that hangs: say what the process was doing
            raise AssertionError(f"{exc}; {_process_state(process.pid)}") from None
        os.write(master, b"/about\r")
        terminal.until("篇解读".encode())
        terminal.until(b"> ")
        # Up-arrow recalls the last line (readline's history), Enter sends it again.
        os.write(master, b"\x1b[A\r")
        again = terminal.until("篇解读".encode())
        assert b"/about" in again
        terminal.until(b"> ")
        # Ctrl-C while the console waits for a line: it ends now, not after the next one.
        os.write(master, b"\x03")
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert status == 130
    assert b"Traceback" not in bytes(terminal.seen)
