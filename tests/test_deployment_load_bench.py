"""bench/deployment_load.py must not rot: its --quick run drives nginx + 1 and + 3 real
replicas on PostgreSQL with every kind of traffic, and every request is answered.

Only that it runs, answers and prints its figures: they are measurements, never asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import nginx
from tests.support.paths import REPO_DIR
from tests.support.stores import require_postgres

KINDS = ("webhook-updates", "web-pages", "wechat-callbacks")

# Heavy (four replica starts, nginx twice): on the worker of the other replica tests.
pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("replica-faults")]


def test_the_deployment_load_benchmark_runs(tmp_path: Path) -> None:
    require_postgres()
    nginx.nginx_binary()
    command = [sys.executable, str(REPO_DIR / "bench" / "deployment_load.py"), "--quick"]
    command += ["--work-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    lines = result.stdout.splitlines()
    sections = [n for n, line in enumerate(lines) if line.startswith("== nginx + ")]
    assert [lines[n] for n in sections] == ["== nginx + 1 replica ==", "== nginx + 3 replicas =="]
    scaling = lines.index(next(line for line in lines if line.startswith("scaling (")))
    for start, end, replicas in ((sections[0], sections[1], 1), (sections[1], scaling, 3)):
        section = lines[start:end]
        for kind in KINDS:
            [row] = [line for line in section if line.startswith(f"{kind} ")]
            rps, p50, p99, requests, errors = row.split()[1:]
            assert float(rps) > 0 and int(requests) > 0 and float(p99) >= float(p50), row
            assert errors == "0", f"errors under load: {row}"
        [fake] = [line for line in section if line.startswith("fake Bot API: ")]
        sent, updates = map(int, re.findall(r"(\d+) messages sent for (\d+) updates", fake)[0])
        assert sent >= updates > 0, fake  # every update answered (at least one message)
        assert " 0 calls rejected" in fake and f"alive at the end: {replicas} of" in fake, fake
        assert sum(line.startswith("load average before: ") for line in section) == 1
        assert sum(line.startswith("load average after: ") for line in section) == 1
    for kind in (*KINDS, "total"):
        [row] = [line for line in lines[scaling:] if line.startswith(f"{kind} ")]
        assert float(row.split()[1]) > 0, row
    assert any(line.startswith("CPUs: ") for line in lines)
