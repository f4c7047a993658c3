"""Every `paperbot run` process, seen from any of them: a heartbeat row each.

The leader lease (bot/core/leadership.py) names one process, the leader; an operator
running several replicas also wants to see the followers, their versions (a rolling
upgrade half done) and whether one stopped answering. Each process upserts its row in
`replicas` every third of LEADER_LEASE_SECONDS (the lease's renewal period) with its
role; a clean stop deletes it; a killed one's row stays, its heartbeat growing old,
and `paperbot status` shows it as gone until rows older than a day are pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Replica, utcnow
from bot.db.retry import OUTAGE, first_line, is_transient

log = logging.getLogger(__name__)

#: A row whose heartbeat is older than this is a process long gone: deleted.
PRUNE_AFTER = dt.timedelta(days=1)
#: How long after start-up the first heartbeat is written.
FIRST_BEAT_SECONDS = 1.0
#: Heartbeats missed before `paperbot status` calls a replica gone.
MISSED_BEATS = 3


def paperbot_version() -> str:
    try:
        return package_version("paperbot")
    except PackageNotFoundError:  # a checkout run without installing it
        return "unknown"


@dataclass(frozen=True)
class ReplicaView:
    holder: str
    host: str
    pid: int
    version: str
    address: str
    role: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime

    def age(self, now: dt.datetime) -> float:
        return (now - self.heartbeat_at).total_seconds()


class ReplicaRegistry:
    """The statements on `replicas`, each its own short transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def beat(self, holder: str, address: str, role: str, started_at: dt.datetime) -> None:
        now = utcnow()
        with self._sessions() as session:
            row = session.get(Replica, holder)
            if row is None:
                session.add(
                    Replica(
                        holder=holder,
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        version=paperbot_version(),
                        address=address,
                        role=role,
                        started_at=started_at,
                        heartbeat_at=now,
                    )
                )
            else:
                row.role = role
                row.heartbeat_at = now
            session.execute(delete(Replica).where(Replica.heartbeat_at < now - PRUNE_AFTER))
            session.commit()

    def remove(self, holder: str) -> None:
        with self._sessions() as session:
            session.execute(delete(Replica).where(Replica.holder == holder))
            session.commit()

    def all(self) -> list[ReplicaView]:
        with self._sessions() as session:
            rows = session.scalars(select(Replica).order_by(Replica.started_at, Replica.holder))
            return [
                ReplicaView(
                    r.holder,
                    r.host,
                    r.pid,
                    r.version,
                    r.address,
                    r.role,
                    r.started_at,
                    r.heartbeat_at,
                )
                for r in rows
            ]


class Heartbeat:
    """The running process's heartbeat task: `start()` in the lifespan, `stop()` at the end.

    A failed beat is tried again next period, never ending the task: the heartbeat only
    informs `paperbot status`, it decides nothing. The database being away goes to the
    process's outage log (one WARNING per outage, one INFO when it answers again), so a
    follower, which otherwise does no database work of its own, says so too."""

    def __init__(
        self,
        registry: ReplicaRegistry,
        holder: Callable[[], str],
        role: Callable[[], str],
        address: str,
        every: float,
    ) -> None:
        self.registry = registry
        self._holder = holder
        self._role = role
        self.address = address
        self.every = every
        self.started_at = utcnow()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="replica-heartbeat")

    async def _run(self) -> None:
        # The first beat waits a moment: at start-up the leader election's first take
        # of the lease goes first (on SQLite both want the one write lock).
        await asyncio.sleep(min(self.every, FIRST_BEAT_SECONDS))
        while True:
            try:
                await asyncio.to_thread(
                    self.registry.beat, self._holder(), self.address, self._role(), self.started_at
                )
            except Exception as exc:
                if is_transient(exc):  # one line per outage, for followers too
                    OUTAGE.failed("writing this replica's heartbeat", exc)
                else:
                    log.warning("replica heartbeat not written: %s", first_line(exc))
            else:
                OUTAGE.answered()
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await asyncio.to_thread(self.registry.remove, self._holder())
        except Exception as exc:  # it ages out by itself
            log.warning("could not remove this replica's heartbeat: %s", exc.__class__.__name__)


def describe_replicas(
    replicas: list[ReplicaView], now: dt.datetime, beat_every: float
) -> list[str]:
    """`paperbot status`'s lines: one per replica, a gone one said so."""
    if not replicas:
        return ["replicas: none running (no heartbeat in the store)"]
    lines = [f"replicas: {len(replicas)}"]
    for replica in replicas:
        age = replica.age(now)
        state = replica.role if age <= beat_every * MISSED_BEATS else f"gone (was {replica.role})"
        lines.append(
            f"  {replica.holder}  {state}  version {replica.version}  http {replica.address}  "
            f"last heartbeat {replica.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC ({age:.0f} s ago)"
        )
    return lines
