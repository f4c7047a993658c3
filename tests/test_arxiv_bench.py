"""The arXiv ranking bench runs (on a small feed here; README has the 2,000-entry figures)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO_DIR


def test_the_bench_runs_on_a_small_feed() -> None:
    bench = REPO_DIR / "bench" / "arxiv_rank.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--entries", "120", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "120 entries, 108 after dedupe" in result.stdout
    for label in (
        "load average (1, 5, 15 min):",
        "ElementTree.iterparse alone (baseline):",
        "parse (fast Atom reader + entries):",
        "parse (feedparser + entries, fallback):",
        "parse + dedupe + rank:",
        "ratio to the bare parser:",
        "peak memory",
        "target",
    ):
        assert label in result.stdout
