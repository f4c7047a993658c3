"""bench/web_throughput.py must not rot: it runs end to end on a tiny column.

Only that it runs and prints its table: its figures are measurements, never asserted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_DIR


def test_the_web_benchmark_runs(tmp_path: Path) -> None:
    # Both baselines when nginx is installed (the default then), else the aiohttp one.
    both = shutil.which("nginx") is not None or Path("/usr/sbin/nginx").is_file()
    servers = 2 if both else 1
    command = [sys.executable, str(REPO_DIR / "bench" / "web_throughput.py")]
    command += ["--reviews", "40", "--duration", "0.5", "--warmup", "0.2"]
    command += ["--connections", "4", "--search-queries", "200"]
    command += ["--loader", "python", "--static", "both" if both else "aiohttp"]
    command += ["--work-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    labels = ("/", "/r/<slug>", "/search?q=对齐", "/feed.atom", "/search, distinct")
    for label in labels:
        [row] = [line for line in lines if line.startswith(f"{label} ")]
        # req/s, p50, p99, errors, then each static server's req/s, p99 and the ratio
        figures = row[18:].split()
        assert len(figures) == 4 + 3 * servers, row
        assert figures[3] == "0", f"errors under load: {row}"
    assert any(line.startswith("load average after:") for line in lines)
