"""The health report (/healthz and `paperbot status`) and the metrics, on real stores."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.app import Core, scheduled_jobs
from bot.background import Background
from bot.core.push import PushSummary
from bot.db import migrate
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import ArxivFeedState, PushRun
from bot.health import configured_channels, describe, health_report
from bot.metrics import Metrics
from tests.support.cli import run_cli
from tests.support.fake_arxiv import ATOM_CS_AI, ArxivFixtureServer
from tests.support.network import free_port
from tests.support.stores import make_settings

AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def test_report_names_the_last_push_and_arxiv_poll(core: Core) -> None:
    with core.sessions.begin() as session:
        session.add(PushRun(trigger="schedule", status="done", started_at=AT - dt.timedelta(7)))
        session.add(
            PushRun(
                trigger="publish",
                status="done",
                started_at=AT,
                finished_at=AT + dt.timedelta(seconds=5),
                sent=40,
                failed=2,
                blocked=1,
            )
        )
        session.add(ArxivFeedState(category="cs.CL", last_attempt_at=AT, consecutive_errors=0))
        session.add(
            ArxivFeedState(
                category="cs.LG", last_attempt_at=AT + dt.timedelta(minutes=1), consecutive_errors=2
            )
        )
    report = health_report(core.engine, core.sessions, {"telegram": "polling"}, "follower")
    assert report["status"] == "ok"
    assert report["role"] == "follower"
    assert report["database"]["reachable"] is True
    assert report["schema"]["up_to_date"] is True
    push = report["last_push"]
    assert (push["trigger"], push["result"], push["sent"], push["failed"], push["blocked"]) == (
        "publish",
        "done",
        40,
        2,
        1,
    )
    assert push["at"] == AT.isoformat()
    poll = report["last_arxiv_poll"]
    assert poll == {
        "at": (AT + dt.timedelta(minutes=1)).isoformat(),
        "result": "failed",
        "failing": ["cs.LG"],
    }
    lines = describe(report)
    assert "role: follower" in lines
    assert any(
        line.startswith("last push: #") and "publish done (sent 40" in line for line in lines
    )
    assert any("last arXiv poll:" in line and "failed (cs.LG)" in line for line in lines)


def test_a_failing_channel_or_old_schema_is_degraded(core: Core) -> None:
    report = health_report(core.engine, core.sessions, {"telegram": "failing"}, "leader")
    assert report["status"] == "degraded"
    assert report["channels"] == {"telegram": "failing"}
    head = report["schema"]["head"]
    migrate.downgrade(core.engine, "0004")
    old = health_report(core.engine, core.sessions, {"telegram": "off"}, "leader")
    assert old["status"] == "degraded"
    assert old["schema"] == {"current": "0004", "head": head, "up_to_date": False}


def test_an_unreachable_database_is_reported_not_raised(tmp_path: Path) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2"
    engine = make_engine(url)
    try:
        report = health_report(engine, make_session_factory(engine), {"telegram": "off"}, "leader")
    finally:
        engine.dispose()
    assert report["status"] == "degraded"
    assert report["database"]["reachable"] is False
    assert report["database"]["error"]
    assert report["last_push"] is None
    assert "database: unreachable" in describe(report)[2]


def test_configured_channels_follow_the_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert configured_channels(make_settings(url, tmp_path)) == {
        "telegram": "off",
        "web": "serving",
    }
    with_token = make_settings(url, tmp_path, telegram_bot_token="1:A", web_enabled=False)
    assert configured_channels(with_token) == {"telegram": "polling", "web": "off"}


def test_each_metrics_has_its_own_registry_and_counts_pushes() -> None:
    first, second = Metrics(), Metrics()
    first.count_push(PushSummary(run_id=1, trigger="cli", deliveries_sent=3, failed=1))
    first.search_seconds.observe(0.02)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(first.render().decode())
        for sample in family.samples
    }
    assert samples[("paperbot_push_deliveries_total", (("outcome", "sent"),))] == 3
    assert samples[("paperbot_push_deliveries_total", (("outcome", "failed"),))] == 1
    assert samples[("paperbot_search_seconds_count", ())] == 1
    assert "paperbot_push_deliveries_total{" not in second.render().decode()


async def test_the_arxiv_poll_job_is_counted_and_reported(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    arxiv_server.feeds["cs.AI"] = ATOM_CS_AI.read_bytes()
    arxiv_core.arxiv.categories = ["cs.AI", "cs.XX"]  # the fixture answers cs.XX with a 400
    metrics = Metrics()
    background = Background(arxiv_core, metrics)
    jobs = {job.name: background._counted(job) for job in scheduled_jobs(arxiv_core, None)}
    await jobs["arxiv-poll"].run()
    polls = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        if family.name == "paperbot_arxiv_polls"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert polls == {"updated": 1.0, "failed": 1.0}
    report = health_report(arxiv_core.engine, arxiv_core.sessions, {}, "leader")
    assert report["last_arxiv_poll"]["result"] == "failed"
    assert report["last_arxiv_poll"]["failing"] == ["cs.XX"]


def test_status_on_a_fresh_data_dir_says_there_is_no_store_and_creates_none(
    tmp_path: Path,
) -> None:
    store = (tmp_path / "data" / "paperbot.db").resolve()
    for args in (["status"], ["status", "--json"]):
        result = run_cli(args, tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            f"no store yet at {store}: `paperbot run` or `paperbot db upgrade` creates it"
        )
        if "--json" in args:  # where the store would be, for scripts
            assert json.loads(result.stdout)["status"] == "no store"
        else:
            assert result.stdout == ""
    assert not store.exists() and not store.parent.exists()
