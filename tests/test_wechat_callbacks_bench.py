"""bench/wechat_callbacks.py must not rot: it runs end to end on a tiny column.

Only that it runs, answers every callback and prints its figures: they are measurements,
never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO_DIR


@pytest.mark.parametrize("workers", [1, 2])
def test_the_wechat_callbacks_benchmark_runs(tmp_path: Path, workers: int) -> None:
    command = [sys.executable, str(REPO_DIR / "bench" / "wechat_callbacks.py")]
    command += ["--workers", str(workers)]
    command += ["--reviews", "40", "--duration", "0.5", "--warmup", "0.2"]
    command += ["--connections", "4", "--queries", "20", "--max-rate", "400"]
    command += ["--work-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.lstrip().startswith("callbacks/s")))
    rate, p50, p99, callbacks, late, errors = lines[header + 1].split()
    assert int(callbacks) > 0 and float(rate) > 0 and float(p99) >= float(p50)
    assert 0 <= int(late) <= int(callbacks)
    # Every callback got an answer WeChat accepts (a reply, or `success` for a late one).
    assert errors == "0", result.stdout
    # Each connection's first reply is decrypted and read (a late one, `success`, is not).
    checked = next(line for line in lines if line.startswith("replies checked"))
    assert int(checked.split(":")[1].split(";")[0]) >= 1, checked
    assert any(line.startswith("load average before:") for line in lines)
    assert any(line.startswith("load average after:") for line in lines)
    assert any(line.startswith("callbacks/s: ") for line in lines)
    # The CPU figure is the whole process tree's (a supervisor and its workers).
    cpu = next(line for line in lines if line.startswith("paperbot run ("))
    assert ("one process" if workers == 1 else f"a supervisor and {workers} workers") in cpu
    assert float(cpu.split(" used ")[1].split()[0]) > 0, cpu
