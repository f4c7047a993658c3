"""deploy/ as the operator installs it: the systemd units, the nginx site in front of two
real `paperbot run` replicas on PostgreSQL, one of them SIGKILLed.

nginx is Debian's (nginx-light), started by the test with the config rendered from the
deploy/ files (tests/support/nginx.py). The fake Telegram delivers webhook updates
through nginx the way Telegram does; the web pages are read through it too.
"""

from __future__ import annotations

import configparser
import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import nginx
from tests.support.cli import PAPERBOT, run_cli
from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update
from tests.support.network import free_port
from tests.support.paths import REPO_DIR
from tests.support.replicas import webhook_replicas
from tests.support.stores import fresh_postgres_schema

UNITS = (REPO_DIR / "deploy" / "paperbot.service", REPO_DIR / "deploy" / "paperbot@.service")
INSTALLED_PAPERBOT = "/opt/paperbot/venv/bin/paperbot"
TOKEN = "123:DEPLOY"
SECRET = "deploy_Secret-7"
PUBLIC_URL = "https://paperbot.example.org/telegram/webhook"


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    config = nginx.render(tmp_path / "nginx", [free_port(), free_port()])
    result = nginx.check(config)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_refuses_a_broken_site(tmp_path: Path) -> None:
    """The check above can fail: the same command on a site with a typo does."""
    config = nginx.render(tmp_path / "nginx", [free_port()])
    site = config.root / "sites-enabled" / "paperbot"
    site.write_text(site.read_text().replace("proxy_pass", "proxy_pas", 1))
    result = nginx.check(config)
    assert result.returncode != 0 and "proxy_pas" in result.stderr


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_has_what_the_issue_asks(unit: Path) -> None:
    parsed = _unit(unit)
    assert set(parsed.sections()) == {"Unit", "Service", "Install"}
    service = parsed["Service"]
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"] == "/etc/paperbot/env"
    assert service["WorkingDirectory"] == "/var/lib/paperbot"
    assert service["StateDirectory"] == "paperbot"
    assert service["ExecStartPre"] == f"{INSTALLED_PAPERBOT} db upgrade"
    assert service["ExecStart"].endswith(f"{INSTALLED_PAPERBOT} run")
    assert "StartLimitBurst" in parsed["Unit"]
    if "@" in unit.name:
        assert "HTTP_PORT=%i" in service["ExecStart"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verifies_the_unit(unit: Path, tmp_path: Path) -> None:
    """systemd's own parser: unknown keys and sections, bad values, missing binaries
    (the installed path is pointed at this venv's paperbot, as an install puts it)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("SKIPPING systemd-analyze verify — not installed (the key check above ran)")
    name = unit.name.replace("@.", "@8081.")
    copy = tmp_path / name
    copy.write_text(unit.read_text().replace(INSTALLED_PAPERBOT, str(PAPERBOT)))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    complaints = [line for line in result.stderr.splitlines() if name in line]
    assert result.returncode == 0 and complaints == [], result.stderr


@dataclass
class Deployment:
    fake: FakeTelegramServer
    base: str  # nginx
    replicas: list[subprocess.Popen[str]]
    logs: list[Path]
    database_url: str
    tmp_path: Path


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """Two replicas in webhook mode on a fresh PostgreSQL schema behind the test's nginx."""
    with (
        fresh_postgres_schema() as url,
        FakeTelegramServer() as fake,
        webhook_replicas(
            tmp_path,
            url,
            fake,
            count=2,
            token=TOKEN,
            secret=SECRET,
            public_url=PUBLIC_URL,
            LEADER_LEASE_SECONDS="3",
        ) as replicas,
    ):
        yield Deployment(fake, replicas.base, replicas.processes, replicas.logs, url, tmp_path)


def _pages_ok(base: str, paths: list[str], client: httpx.Client | None = None) -> list[int]:
    client = client or httpx.Client(timeout=10)
    return [client.get(f"{base}{path}").status_code for path in paths]


def _slugs(base: str) -> list[str]:
    feed = httpx.get(f"{base}/feed.json", timeout=10).json()
    return [item["url"].rstrip("/").rsplit("/", 1)[-1] for item in feed["items"]]


@pytest.mark.postgres
def test_two_replicas_behind_nginx_survive_a_sigkill(deployment: Deployment) -> None:
    base, fake = deployment.base, deployment.fake
    slugs = _slugs(base)
    assert slugs, "the seeded store has reviews"
    pages = ["/", "/latest", "/classic", "/tags", "/about", "/feed.atom", "/search?q=对齐"]
    pages += [f"/r/{slug}" for slug in slugs]
    assert set(_pages_ok(base, pages * 2)) == {200}
    assert httpx.get(f"{base}/nope", timeout=10).status_code == 404
    # POST is not a page: refused at nginx.
    assert httpx.post(f"{base}/about", timeout=10).status_code == 403

    # An update the way Telegram sends it: to the public URL, through nginx.
    reader = make_user(7001, "部署读者", language_code="zh-hans")
    fake.push_update(message_update(reader, "/start"))
    fake.wait_for_webhook_idle(timeout=60)
    assert any("订阅成功" in text for text in fake.sent_texts(7001))

    # Every replica is listed by `paperbot status`, one leader.
    status = run_cli(
        ["status", "--json"],
        deployment.tmp_path,
        DATABASE_URL=deployment.database_url,
        PAPERBOT_HOME=str(deployment.tmp_path / "home"),
        LEADER_LEASE_SECONDS="3",
    )
    replicas = json.loads(status.stdout)["replicas"]
    assert sorted(r["pid"] for r in replicas) == sorted(p.pid for p in deployment.replicas)
    assert sorted(r["role"] for r in replicas) == ["follower", "leader"]
    assert all(r["alive"] and r["version"] for r in replicas)

    victim = deployment.replicas[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    # nginx retries the refused connections on the survivor: no reader sees an error.
    assert set(_pages_ok(base, pages * 3)) == {200}
    fake.push_update(message_update(reader, "/latest"))
    fake.push_update(message_update(reader, "/unsubscribe"))
    fake.wait_for_webhook_idle(timeout=60)
    texts = fake.sent_texts(7001)
    assert "最新论文解读" in texts[-2] and "已退订" in texts[-1], texts
    attempts = [a for a in fake.webhook_attempts if a.chat_key == "7001"]
    assert [a.status for a in attempts] == [200, 200, 200], attempts

    # The killed one shows as gone once its heartbeats stop (3 missed beats of 1 s).
    gone = run_cli(
        ["status"],
        deployment.tmp_path,
        DATABASE_URL=deployment.database_url,
        PAPERBOT_HOME=str(deployment.tmp_path / "home"),
        LEADER_LEASE_SECONDS="3",
    )
    victim_line = next(line for line in gone.stdout.splitlines() if f":{victim.pid}:" in line)
    assert "version" in victim_line and "last heartbeat" in victim_line


@pytest.mark.postgres
def test_the_app_sees_the_readers_address_not_nginx(deployment: Deployment) -> None:
    """nginx connects from 127.0.0.1; a reader connecting from 127.0.0.2 is logged as
    127.0.0.2 (X-Forwarded-For from a trusted proxy), and a forged X-Forwarded-For
    from the reader is replaced by nginx, not believed."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=10) as client:
        for _ in range(4):  # both replicas get one (round robin)
            refused = client.post(
                f"{deployment.base}/telegram/webhook",
                content=b"{}",
                headers={"X-Forwarded-For": "203.0.113.9", "Content-Type": "application/json"},
            )
            assert refused.status_code == 403
    logged = "".join(log.read_text() for log in deployment.logs)
    assert "refused a webhook update from 127.0.0.2" in logged, logged[-3000:]
    assert "203.0.113.9" not in logged
    assert "refused a webhook update from 127.0.0.1" not in logged
