"""A private nginx started by a test with the site from deploy/nginx (Debian's nginx-light).

The config is the operator's (deploy/nginx/paperbot.conf and paperbot-upstream.conf),
changed only where a test must differ: the listen address (a free port on 127.0.0.1),
the replicas' ports, and a small main nginx.conf around it (no root paths: pid, logs
and temp files under the test's directory, `daemon off`, started with `-p` and `-c`).
Each change is checked to have applied, so a deploy file that drifts breaks the test
instead of being silently replaced. Without nginx the tests skip loudly; with
PAPERBOT_REQUIRE_NGINX=1 (.ci/run) they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.network import free_port
from tests.support.paths import REPO_DIR

DEPLOY_DIR = REPO_DIR / "deploy"
SITE = DEPLOY_DIR / "nginx" / "paperbot.conf"
UPSTREAM = DEPLOY_DIR / "nginx" / "paperbot-upstream.conf"

MAIN_CONF = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log notice;
events {{ worker_connections 512; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    include sites-enabled/paperbot;
}}
"""


def nginx_binary() -> str:
    """Debian's nginx, or a loud skip (a failure under PAPERBOT_REQUIRE_NGINX=1)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )
    if found is not None:
        return found
    message = "nginx is not installed (apt-get install nginx-light)"
    if os.environ.get("PAPERBOT_REQUIRE_NGINX") == "1":
        pytest.fail(message + " (PAPERBOT_REQUIRE_NGINX=1)")
    pytest.skip("SKIPPING NGINX TEST — " + message)


def _replace(text: str, pattern: str, replacement: str, expected: int) -> str:
    changed, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == expected, f"deploy/nginx changed: {pattern!r} matched {count} times"
    return changed


@dataclass
class NginxConfig:
    root: Path
    main: Path
    port: int


def render(root: Path, replica_ports: Sequence[int], port: int | None = None) -> NginxConfig:
    """The deploy/ site for these replicas under `root`, as /etc/nginx would hold it."""
    port = port or free_port()
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    (root / "sites-enabled").mkdir(exist_ok=True)
    upstream = UPSTREAM.read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server 127\.0\.0\.1:(\d+) (.*);$", upstream, flags=re.M)
    assert [p for p, _ in servers] == ["8081", "8082"], servers
    options = servers[0][1]
    lines = "\n".join(f"    server 127.0.0.1:{p} {options};" for p in replica_ports)
    upstream = _replace(upstream, r"^\s*server 127\.0\.0\.1:808[12] .*;\n", "", 2)
    upstream = _replace(upstream, r"^upstream paperbot \{\n", f"upstream paperbot {{\n{lines}\n", 1)
    (root / "paperbot-upstream.conf").write_text(upstream, encoding="utf-8")
    site = SITE.read_text(encoding="utf-8")
    site = _replace(site, r"^    listen 80;$", f"    listen 127.0.0.1:{port};", 1)
    (root / "sites-enabled" / "paperbot").write_text(site, encoding="utf-8")
    main = root / "nginx.conf"
    main.write_text(MAIN_CONF.format(root=root), encoding="utf-8")
    return NginxConfig(root, main, port)


def check(config: NginxConfig) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the rendered config."""
    return subprocess.run(
        [nginx_binary(), "-t", "-p", f"{config.root}/", "-c", str(config.main)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@contextmanager
def running(config: NginxConfig) -> Iterator[str]:
    """nginx in the foreground for the block; yields its base URL."""
    process = subprocess.Popen(
        [nginx_binary(), "-p", f"{config.root}/", "-c", str(config.main)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{config.port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                log = (config.root / "error.log").read_text(encoding="utf-8", errors="replace")
                raise AssertionError(f"nginx exited {process.returncode}: {log}")
            try:
                httpx.get(f"{base}/robots.txt", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError("nginx did not answer within 20 s") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
