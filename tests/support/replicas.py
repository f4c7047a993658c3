"""Several `paperbot run` replicas in Telegram webhook mode on one database, behind the
test's own nginx (tests/support/nginx.py, the config from deploy/), with the fake Bot API
delivering its updates through nginx: the deployment the deploy and fault tests drive."""

from __future__ import annotations

import re
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bot.app import Core
from bot.db.models import Delivery
from tests.support import nginx
from tests.support.cli import PAPERBOT
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.network import free_port
from tests.test_runtime import environment, wait_for_health


@dataclass
class WebhookReplicas:
    base: str  # nginx's address: what Telegram and readers reach
    processes: list[subprocess.Popen[str]]
    logs: list[Path]
    ports: list[int]


@contextmanager
def webhook_replicas(
    work: Path,
    database_url: str,
    fake: FakeTelegramServer,
    *,
    count: int,
    token: str,
    secret: str,
    public_url: str,
    health_timeout: float = 60,
    **settings: str,
) -> Iterator[WebhookReplicas]:
    """`count` replicas (each logging to work/replica-N.log) healthy behind nginx, the
    fake's webhook pointed at nginx; on exit the webhook stops, the replicas get SIGTERM
    (killed if they do not stop within a minute)."""
    nginx.nginx_binary()
    ports = [free_port() for _ in range(count)]
    processes: list[subprocess.Popen[str]] = []
    logs: list[Path] = []
    with ExitStack() as cleanup:
        cleanup.callback(_stop, processes)
        cleanup.callback(fake.deliver_webhook_to)
        for index, port in enumerate(ports):
            log = work / f"replica-{index}.log"
            env = environment(
                work,
                DATABASE_URL=database_url,
                TELEGRAM_BOT_TOKEN=token,
                TELEGRAM_API_BASE_URL=fake.base_url,
                TELEGRAM_MODE="webhook",
                TELEGRAM_WEBHOOK_URL=public_url,
                TELEGRAM_WEBHOOK_SECRET=secret,
                HTTP_PORT=str(port),
                PAPERBOT_HOME=str(work / "home"),
                **settings,
            )
            with log.open("w") as sink:
                processes.append(
                    subprocess.Popen(
                        [str(PAPERBOT), "run"],
                        cwd=work,
                        env=env,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
            logs.append(log)
        for port, process in zip(ports, processes, strict=True):
            wait_for_health(f"http://127.0.0.1:{port}", process, timeout=health_timeout)
        base = cleanup.enter_context(nginx.running(nginx.render(work / "nginx", ports)))
        fake.deliver_webhook_to(f"{base}/telegram/webhook")
        yield WebhookReplicas(base, processes, logs, ports)


def _stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def sent_per_reader(core: Core) -> Counter[int]:
    """How many `sent` deliveries each subscriber has: exactly one each after a push that
    survived a fault (a kill, a restart), whatever the fake counted as duplicates."""
    with core.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, func.count())
            .where(Delivery.status == "sent")
            .group_by(Delivery.subscriber_id)
        )
        return Counter(dict(rows.tuples().all()))


_ELECTED = re.compile(r"elected leader \(epoch (\d+)")


def last_epoch(log_text: str) -> int:
    """The epoch of the last election a replica's log shows (0: never elected). A
    takeover is a survivor elected at a later epoch than the dead leader's last: under
    load the lease may change hands before the kill too, so the number itself is not
    fixed."""
    return max((int(epoch) for epoch in _ELECTED.findall(log_text)), default=0)
