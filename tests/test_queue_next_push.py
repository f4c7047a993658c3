"""#12.1: "queued for the next push" means the next push that runs, scheduled or
manual; `--at` is "not before"; a past time needs `--backdate`; `push --dry-run` says
what is waiting and why. Real `paperbot` processes against the fake Bot API."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.fake_telegram import FakeTelegramServer
from tests.test_push import received
from tests.test_push_processes import environment, prepare

REVIEW = """## 最新论文解读

### Toolformer: Language Models Can Teach Themselves to Use Tools

**发表时间**: 2023年2月
**作者**: Timo Schick等 (Meta AI)
**链接**: [arXiv:2302.04761](https://arxiv.org/abs/2302.04761)

#### 核心创新

模型自己学会在文本中插入 API 调用（计算器、搜索、翻译），自监督地决定何时调用工具。

---
"""


def write_review(tmp_path: Path, text: str = REVIEW, name: str = "review.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_queue_add_then_push_delivers_once(sqlite_url: str, tmp_path: Path) -> None:
    with FakeTelegramServer() as server:
        prepare(sqlite_url, tmp_path, range(3100, 3103))
        env = environment(sqlite_url, server)
        queued = run_cli(["queue", "add", str(write_review(tmp_path))], tmp_path, **env)
        assert queued.returncode == 0, queued.stderr
        assert "with the next push" in queued.stdout

        listed = run_cli(["queue", "list"], tmp_path, **env)
        assert "next push" in listed.stdout and "Toolformer" in listed.stdout

        dry = run_cli(["push", "--dry-run"], tmp_path, **env)
        assert "dry run: 3 subscribers would get 3 reviews" in dry.stdout, dry.stdout

        pushed = run_cli(["push"], tmp_path, **env)
        assert pushed.returncode == 0, pushed.stderr
        assert received(server) == Counter(dict.fromkeys(range(3100, 3103), 1))

        again = run_cli(["push"], tmp_path, **env)
        assert again.returncode == 0, again.stderr
        assert received(server) == Counter(dict.fromkeys(range(3100, 3103), 1))


def test_at_is_not_before_and_dry_run_says_why(sqlite_url: str, tmp_path: Path) -> None:
    with FakeTelegramServer() as server:
        prepare(sqlite_url, tmp_path, range(3200, 3202))
        env = environment(sqlite_url, server)
        later = (dt.date.today() + dt.timedelta(days=3)).isoformat()
        queued = run_cli(
            ["queue", "add", str(write_review(tmp_path)), "--at", later], tmp_path, **env
        )
        assert queued.returncode == 0, queued.stderr
        assert f"not before {later} 09:00" in queued.stdout

        dry = run_cli(["push", "--dry-run"], tmp_path, **env)
        assert "dry run: 0 subscribers would get 0 reviews" in dry.stdout
        assert "not in this push: #" in dry.stdout and "Toolformer" in dry.stdout
        assert f"not before {later} 09:00" in dry.stdout and "not due yet" in dry.stdout

        pushed = run_cli(["push"], tmp_path, **env)
        assert pushed.returncode == 0, pushed.stderr
        assert server.sent_messages() == []


def test_a_past_time_is_refused_unless_backdated(sqlite_url: str, tmp_path: Path) -> None:
    with FakeTelegramServer() as server:
        prepare(sqlite_url, tmp_path, range(3300, 3302))
        env = environment(sqlite_url, server)
        review = str(write_review(tmp_path))
        refused = run_cli(["queue", "add", review, "--at", "2026-01-05 09:00"], tmp_path, **env)
        assert refused.returncode != 0
        assert "has already passed" in refused.stderr and "--backdate" in refused.stderr
        listed = run_cli(["queue", "list"], tmp_path, **env)
        assert "0 reviews waiting" in listed.stdout

        backdated = run_cli(
            ["queue", "add", review, "--at", "2026-01-05 09:00", "--backdate"], tmp_path, **env
        )
        assert backdated.returncode == 0, backdated.stderr
        pushed = run_cli(["push"], tmp_path, **env)
        assert pushed.returncode == 0, pushed.stderr
        assert received(server) == Counter(dict.fromkeys(range(3300, 3302), 1))
