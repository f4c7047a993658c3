"""Run `paperbot` as a process, the way an operator does at the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PAPERBOT = Path(sys.executable).parent / "paperbot"


def run_cli(
    args: list[str],
    tmp_path: Path,
    stdin: str = "",
    *,
    timeout: float = 120,
    cwd: Path | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`paperbot ARGS` in `cwd` (default `tmp_path`), its store and PAPERBOT_HOME under
    `tmp_path` unless `env` says otherwise (never the real home directory)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_", "PUSH_", "ARXIV_"))
    }
    environment.update(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "PAPERBOT_HOME": str(tmp_path / "home"),
            # Never the real arXiv: a port nothing listens on answers at once (refused),
            # unless the test points paperbot at tests.support.fake_arxiv.
            "ARXIV_API_URL": "http://127.0.0.1:9/api/query",
            "ARXIV_FEED_URL": "http://127.0.0.1:9/rss/{category}",
            "ARXIV_REQUEST_INTERVAL": "0",
            **env,
        }
    )
    return subprocess.run(
        [str(PAPERBOT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or tmp_path,
        env=environment,
        timeout=timeout,
        check=False,
    )
