"""The web archive as readers reach it: a real `paperbot run` process, no Telegram token,
serving the pages over HTTP on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.network import free_port

PAPERBOT = Path(sys.executable).parent / "paperbot"


@dataclass(frozen=True)
class Site:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path


def _environment(work: Path, **extra: str) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "ADMIN_", "PUBLIC_"))
    }
    return {**clean, "DATA_DIR": str(work / "data"), **extra}


def _wait_until_serving(site: Site, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if site.process.poll() is not None:
            output = site.log.read_text(errors="replace")
            raise AssertionError(f"paperbot run exited {site.process.returncode}:\n{output}")
        try:
            if httpx.get(site.url("/healthz"), timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"paperbot run did not answer /healthz within {timeout} s")


@contextmanager
def running_site(work: Path, database_url: str, timeout: float = 60, **env: str) -> Iterator[Site]:
    """`paperbot run` on `database_url` until the block ends; then SIGTERM, and its output
    (in a file, so a chatty server never blocks on a full pipe) is printed: pytest shows it
    for a failing test."""
    port = free_port()
    log = work / f"paperbot-run-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(PAPERBOT), "run"],
            cwd=work,
            env=_environment(work, DATABASE_URL=database_url, HTTP_PORT=str(port), **env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    site = Site(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_serving(site, timeout)
        yield site
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(log.read_text(errors="replace"))
