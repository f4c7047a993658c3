"""The facts an operator asks first: is the store reachable and current, what does each
channel do, when did the last push and arXiv poll run and how did they end.

One function computes them from the database, for both `GET /healthz` (the running
process, with its channels' live states) and `paperbot status` (the shell, with the
states the settings configure).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.db import migrate
from bot.db.models import ArxivFeedState, PushRun
from bot.db.retry import first_line
from bot.settings import Settings

#: Who runs the scheduled jobs; a leader election plugs its own provider in.
RoleProvider = Callable[[], str]


def single_process_role() -> str:
    """One process and no election: it is the leader."""
    return "leader"


def configured_channels(settings: Settings) -> dict[str, str]:
    """The channel states the settings ask for (what a shell can know without the
    running process)."""
    channels = {
        "telegram": settings.effective_telegram_mode,
        "web": "serving" if settings.web_enabled else "off",
    }
    if settings.wechat_enabled:
        # WeChat posts its callbacks to /wechat: a webhook whenever it is configured.
        channels["wechat"] = "webhook"
    return channels


def health_report(
    engine: Engine,
    sessions: sessionmaker[Session],
    channels: Mapping[str, str],
    role: str,
) -> dict[str, Any]:
    """The /healthz document. Never raises for a sick store: it says so instead."""
    database = _database(engine)
    report: dict[str, Any] = {
        "status": "ok",
        "role": role,
        "database": database,
        "schema": {"current": None, "head": None, "up_to_date": False},
        "channels": dict(channels),
        "last_push": None,
        "last_arxiv_poll": None,
    }
    if database["reachable"]:
        try:
            report["schema"] = _schema(engine)
            report["last_push"] = _last_push(sessions)
            report["last_arxiv_poll"] = _last_arxiv_poll(sessions)
        except Exception as exc:  # a half-migrated store still gets an answer
            database["error"] = first_line(exc)
    healthy = (
        database["reachable"]
        and "error" not in database
        and report["schema"]["up_to_date"]
        and "failing" not in channels.values()
    )
    report["status"] = "ok" if healthy else "degraded"
    return report


def _database(engine: Engine) -> dict[str, Any]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return {"reachable": False, "backend": engine.dialect.name, "error": first_line(exc)}
    return {"reachable": True, "backend": engine.dialect.name}


def _schema(engine: Engine) -> dict[str, Any]:
    current = migrate.current_revision(engine)
    head = migrate.head_revision(engine)
    return {"current": current, "head": head, "up_to_date": current == head}


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment else None


def _last_push(sessions: sessionmaker[Session]) -> dict[str, Any] | None:
    with sessions() as session:
        run = session.scalars(select(PushRun).order_by(PushRun.started_at.desc()).limit(1)).first()
        if run is None:
            return None
        return {
            "id": run.id,
            "at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "trigger": run.trigger,
            "result": run.status,
            "sent": run.sent,
            "failed": run.failed,
            "blocked": run.blocked,
        }


def _last_arxiv_poll(sessions: sessionmaker[Session]) -> dict[str, Any] | None:
    """The latest attempt over all categories; "ok" unless a category's last attempt
    failed (then the failing categories are named)."""
    with sessions() as session:
        latest = session.scalar(select(func.max(ArxivFeedState.last_attempt_at)))
        if latest is None:
            return None
        failing = session.scalars(
            select(ArxivFeedState.category)
            .where(ArxivFeedState.consecutive_errors > 0)
            .order_by(ArxivFeedState.category)
        ).all()
    return {
        "at": _iso(latest),
        "result": "failed" if failing else "ok",
        "failing": list(failing),
    }


def describe(report: Mapping[str, Any]) -> list[str]:
    """The report as `paperbot status` prints it: one fact a line."""
    database = report["database"]
    schema = report["schema"]
    lines = [
        f"status: {report['status']}",
        f"role: {report['role']}",
        "database: "
        + (f"reachable ({database['backend']})" if database["reachable"] else "unreachable")
        + (f": {database['error']}" if database.get("error") else ""),
        f"schema: {schema['current'] or '-'} (head {schema['head'] or '-'}"
        + ("" if schema["up_to_date"] else ", not up to date")
        + ")",
        "channels: " + ", ".join(f"{name} {state}" for name, state in report["channels"].items()),
    ]
    push = report["last_push"]
    lines.append(
        f"last push: #{push['id']} {push['at']} {push['trigger']} {push['result']} "
        f"(sent {push['sent']}, failed {push['failed']}, blocked {push['blocked']})"
        if push
        else "last push: never"
    )
    poll = report["last_arxiv_poll"]
    if poll:
        failing = f" ({', '.join(poll['failing'])})" if poll["failing"] else ""
        lines.append(f"last arXiv poll: {poll['at']} {poll['result']}{failing}")
    else:
        lines.append("last arXiv poll: never")
    return lines
