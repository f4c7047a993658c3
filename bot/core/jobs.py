"""Scheduled-job bookkeeping in the store: when did each job last run, was one missed?"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import JobState, utcnow


class JobStateService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def last_run(self, name: str) -> dt.datetime | None:
        with self.sessions() as session:
            row = session.get(JobState, name)
            return row.last_run_at if row else None

    def mark_run(self, name: str, at: dt.datetime | None = None) -> None:
        """Upsert, so two workers starting the same job at once do not collide."""
        moment = at or utcnow()
        with self.sessions.begin() as session:
            connection = session.connection()
            insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
            statement = insert(JobState).values(name=name, last_run_at=moment)
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"], set_={"last_run_at": moment}
                )
            )


def missed_fire_time(
    cron: str,
    zone: ZoneInfo,
    last_run: dt.datetime | None,
    now: dt.datetime,
    grace: dt.timedelta,
) -> dt.datetime | None:
    """The latest scheduled time after `last_run` that has passed, if it is within
    `grace` of now; several missed runs coalesce into this one. A job that never ran
    has missed nothing (a fresh install does not push at once)."""
    if last_run is None:
        return None
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    missed: dt.datetime | None = None
    previous = None
    moment = last_run.astimezone(zone) + dt.timedelta(seconds=1)
    for _ in range(10_000):
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None or fire > now:
            break
        missed, previous, moment = fire, fire, fire + dt.timedelta(seconds=1)
    if missed is None or now - missed > grace:
        return None
    return missed.astimezone(dt.UTC)
