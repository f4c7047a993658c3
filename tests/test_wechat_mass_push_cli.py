"""`paperbot push` with WECHAT_PUSH=mass, as a real process against the fake WeChat API:
the week's queued review goes out as one mass message (one draft, a preview to the
WeChat editor, one sendall to the followers); a second run sends nothing more; with
WECHAT_PUSH=off nothing is mass-sent and the output says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.fake_wechat import FakeWeChatServer
from tests.test_queue_next_push import write_review

APP_ID = "wx2c2769f8efd9abc2"
SECRET = "s3cret"
EDITOR = "oEDITOR"


@pytest.fixture
def wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(app_id=APP_ID, app_secret=SECRET) as server:
        server.state.followers.update({EDITOR, "oREADER1", "oREADER2"})
        yield server


def _env(tmp_path: Path, wechat: FakeWeChatServer, push: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'paperbot.db'}",
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": SECRET,
        "WECHAT_TOKEN": "spamtest",
        "WECHAT_API_BASE_URL": wechat.base_url,
        "WECHAT_PUSH": push,
        "ADMIN_IDS": f"wechat:{EDITOR}",
        "PUBLIC_URL": "https://paper.example.org",
    }


def test_push_sends_one_mass_message_once(tmp_path: Path, wechat: FakeWeChatServer) -> None:
    env = _env(tmp_path, wechat, "mass")
    queued = run_cli(["queue", "add", str(write_review(tmp_path))], tmp_path, **env)
    assert queued.returncode == 0, queued.stderr

    pushed = run_cli(["push"], tmp_path, **env)
    assert pushed.returncode == 0, pushed.stderr
    assert "wechat broadcast #1: sent, 1 reviews" in pushed.stdout, pushed.stdout
    jobs = list(wechat.state.mass_jobs.values())
    assert len(jobs) == 1
    (draft,) = wechat.state.drafts.values()
    assert len(draft) == 1 and draft[0]["title"].startswith("Toolformer"), draft
    assert draft[0]["content_source_url"].startswith("https://paper.example.org/r/")
    assert draft[0]["thumb_media_id"] in wechat.state.materials
    assert [preview["touser"] for preview in wechat.state.previews] == [EDITOR]
    assert jobs[0]["body"]["filter"]["is_to_all"] is True

    again = run_cli(["push"], tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert "nothing new to send" in again.stdout, again.stdout
    assert len(wechat.state.mass_jobs) == 1
    assert len(wechat.state.drafts) == 1
    assert len(wechat.calls_to("material/add_material")) == 1


def test_push_off_mass_sends_nothing(tmp_path: Path, wechat: FakeWeChatServer) -> None:
    env = _env(tmp_path, wechat, "off")
    queued = run_cli(["queue", "add", str(write_review(tmp_path))], tmp_path, **env)
    assert queued.returncode == 0, queued.stderr
    pushed = run_cli(["push"], tmp_path, **env)
    # No Telegram token and no WeChat mass push: nothing can push, said as for Telegram.
    assert pushed.returncode != 0
    assert "TELEGRAM_BOT_TOKEN is not set" in pushed.stderr
    assert wechat.state.mass_jobs == {}
