"""A WeChat mass push killed on its way, as real processes: `paperbot push` (and the
running bot's push, `paperbot run`) against the fake WeChat API, SIGKILLed at a moment
the fake observes between `draft/add` and the effective `message/mass/sendall`, then
started again. WeChat gets exactly one effective sendall (the fake dedupes
`clientmsgid` as WeChat does), no second draft, no second preview, no second cover; the
editor hears the summary once, from the run that finished it.

The kill points: the editor's preview held (the draft is stored, nothing sent yet); the
sendall held before WeChat carried it out (the request dies with the process); the
sendall carried out and its answer held (WeChat sent it, the bot never learnt it did:
the restart sends again with the same clientmsgid and WeChat answers 45065 with the
first job's msg_id).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import build_core
from bot.core.push_requests import Requester
from bot.db.models import Broadcast
from tests.support.cli import PAPERBOT, run_cli
from tests.support.fake_wechat import FakeWeChatServer
from tests.support.network import free_port
from tests.support.stores import make_settings
from tests.test_queue_next_push import write_review

APP_ID = "wx2c2769f8efd9abc2"
SECRET = "s3cret"
EDITOR = "oEDITOR"
#: How long a test waits for the process to reach the held call (a loaded machine).
REACH_SECONDS = 90


@pytest.fixture
def wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(app_id=APP_ID, app_secret=SECRET) as server:
        server.state.followers.update({EDITOR, "oREADER1", "oREADER2"})
        yield server


def _env(tmp_path: Path, wechat: FakeWeChatServer) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'paperbot.db'}",
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": SECRET,
        "WECHAT_TOKEN": "spamtest",
        "WECHAT_API_BASE_URL": wechat.base_url,
        "WECHAT_PUSH": "mass",
        "ADMIN_IDS": f"wechat:{EDITOR}",
        "PUBLIC_URL": "https://paper.example.org",
    }


def _spawn(
    args: list[str], tmp_path: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """`paperbot ARGS` as run_cli would start it, in the background, output to `log`."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_", "PUSH_", "ARXIV_", "WECHAT_"))
    }
    return subprocess.Popen(
        [str(PAPERBOT), *args],
        cwd=tmp_path,
        env={
            **clean,
            "DATA_DIR": str(tmp_path / "data"),
            "PAPERBOT_HOME": str(tmp_path / "home"),
            "ARXIV_API_URL": "http://127.0.0.1:9/api/query",
            "ARXIV_FEED_URL": "http://127.0.0.1:9/rss/{category}",
            **env,
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def _broadcasts(database_url: str, tmp_path: Path) -> list[Broadcast]:
    core = build_core(make_settings(database_url, tmp_path))
    try:
        with core.sessions() as session:
            rows = list(session.scalars(select(Broadcast).order_by(Broadcast.id)))
            session.expunge_all()
            return rows
    finally:
        core.close()


def _sent_once(wechat: FakeWeChatServer, *, previews: int) -> dict[str, Any]:
    """WeChat's side after the restart: one job, one draft, one cover, `previews`
    previews; the job's clientmsgid. Also: nothing else went to followers."""
    jobs = list(wechat.state.mass_jobs.items())
    assert len(jobs) == 1, jobs
    assert len(wechat.state.drafts) == 1
    assert len(wechat.calls_to("draft/add")) == 1
    assert len(wechat.calls_to("material/add_material")) == 1
    assert [p["touser"] for p in wechat.state.previews] == [EDITOR] * previews
    clientmsgid, job = jobs[0]
    assert job["body"]["mpnews"]["media_id"] in wechat.state.drafts
    return {"clientmsgid": clientmsgid, **job}


def _editor_messages(wechat: FakeWeChatServer) -> list[str]:
    return [
        str(m["text"]["content"]) for m in wechat.state.customer_messages if m["touser"] == EDITOR
    ]


KILL_POINTS = [
    pytest.param("message/mass/preview", False, id="preview-held"),
    pytest.param("message/mass/sendall", False, id="sendall-never-carried-out"),
    pytest.param("message/mass/sendall", True, id="sendall-done-answer-lost"),
]


@pytest.mark.parametrize(("method", "after"), KILL_POINTS)
def test_push_killed_between_draft_and_sendall_sends_once_after_a_restart(
    tmp_path: Path, wechat: FakeWeChatServer, method: str, after: bool
) -> None:
    env = _env(tmp_path, wechat)
    queued = run_cli(["queue", "add", str(write_review(tmp_path))], tmp_path, **env)
    assert queued.returncode == 0, queued.stderr

    hold = wechat.hold(method, after=after)
    process = _spawn(["push"], tmp_path, env, tmp_path / "killed.log")
    try:
        hold.wait(REACH_SECONDS)
    finally:
        _kill(process)
    # Killed with the draft stored: nothing sent but what the kill point let through.
    assert len(wechat.state.drafts) == 1
    assert len(wechat.state.mass_jobs) == (1 if after else 0)
    (row,) = _broadcasts(env["DATABASE_URL"], tmp_path)
    assert row.status == "draft_created" and row.draft_id in wechat.state.drafts
    assert _editor_messages(wechat) == []

    resumed = run_cli(["push"], tmp_path, **env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "wechat broadcast #1: sent, 1 reviews" in resumed.stdout, resumed.stdout
    # The preview goes with the draft's creation: the restart does not repeat it (a
    # held preview was never carried out).
    job = _sent_once(wechat, previews=0 if method.endswith("preview") else 1)
    (row,) = _broadcasts(env["DATABASE_URL"], tmp_path)
    assert (row.status, row.push_key) == ("sent", job["clientmsgid"])
    assert row.message_id == str(job["msg_id"])
    sendalls = len(wechat.calls_to("message/mass/sendall"))
    assert sendalls == (2 if after else 1)  # the second answered 45065, the first's id
    # The editor hears of it once: the summary of the run that sent it.
    (summary,) = _editor_messages(wechat)
    assert "群发 #1" in summary and "1 篇已发出" in summary, summary

    again = run_cli(["push"], tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert "nothing new to send" in again.stdout, again.stdout
    assert len(wechat.state.mass_jobs) == 1
    assert len(wechat.calls_to("message/mass/sendall")) == sendalls


# --- the running bot's push -------------------------------------------------------------


def _poll(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def _role(port: int) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except httpx.TransportError:
        return None
    role = response.json().get("role") if response.status_code in (200, 503) else None
    return str(role) if role else None


def test_the_running_bots_push_killed_at_sendall_resumes_once_in_the_next_leader(
    tmp_path: Path, wechat: FakeWeChatServer
) -> None:
    """`paperbot run` (WeChat only, WECHAT_PUSH=mass): an editor's push request runs
    the push, which broadcasts; killed with WeChat's answer to sendall held, the next
    `paperbot run` leads, sees the broadcast was not sent (its catch-up) and sends it
    again with the same clientmsgid: one job at WeChat."""
    env = {
        **_env(tmp_path, wechat),
        "LEADER_LEASE_SECONDS": "2",
        "WEB_ENABLED": "false",
    }
    queued = run_cli(["queue", "add", str(write_review(tmp_path))], tmp_path, **env)
    assert queued.returncode == 0, queued.stderr
    core = build_core(make_settings(env["DATABASE_URL"], tmp_path))
    try:
        # A push request of its own (a publish's would not broadcast: NO_BROADCAST_TRIGGERS).
        core.push_requests.record(Requester("wechat", EDITOR), "manual", ())
    finally:
        core.close()

    hold = wechat.hold("message/mass/sendall", after=True)
    first_log = tmp_path / "run-1.log"
    first = _spawn(["run"], tmp_path, {**env, "HTTP_PORT": str(free_port())}, first_log)
    try:
        hold.wait(REACH_SECONDS)
    finally:
        _kill(first)
    assert len(wechat.state.mass_jobs) == 1  # WeChat sent it; the bot never heard
    log = first_log.read_text(errors="replace")
    assert "elected leader" in log, log

    port = free_port()
    second_log = tmp_path / "run-2.log"
    second = _spawn(["run"], tmp_path, {**env, "HTTP_PORT": str(port)}, second_log)
    try:
        _poll(lambda: _role(port) == "leader", REACH_SECONDS, "the second run leading")

        def sent() -> bool:
            rows = _broadcasts(env["DATABASE_URL"], tmp_path)
            return bool(rows) and rows[0].status == "sent"

        _poll(sent, REACH_SECONDS, "the broadcast resumed and sent")
        text = second_log.read_text(errors="replace")
        assert "an earlier broadcast was not sent" in text, text
        job = _sent_once(wechat, previews=1)
        (row,) = _broadcasts(env["DATABASE_URL"], tmp_path)
        assert row.push_key == job["clientmsgid"] and row.message_id == str(job["msg_id"])
        assert len(wechat.calls_to("message/mass/sendall")) == 2
        # The editor hears the resumed push's summary, with the broadcast in it.
        summary = _poll(_editor_messages_with(wechat, "群发 #1"), 30, "the editor's summary")
        assert "1 篇已发出" in summary
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    assert second.returncode == 0, second_log.read_text(errors="replace")


def _editor_messages_with(wechat: FakeWeChatServer, needle: str) -> Callable[[], str | None]:
    def found() -> str | None:
        return next((text for text in _editor_messages(wechat) if needle in text), None)

    return found
