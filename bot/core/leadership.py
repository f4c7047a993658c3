"""One leader for scheduled work: a lease row in the store, renewed every few seconds.

Every `paperbot run` process runs a `LeaderElector`. The one holding an unexpired lease
(`leader_leases`, one row per duty) is the leader: it runs the scheduled jobs, the
start-up catch-up and the editors' push requests, and polls Telegram. The others wait
and try to take the lease each renewal period; when the leader dies its lease expires
and one of them takes over, with the epoch (the fencing token) one higher.

Each step is one atomic conditional statement, the same on SQLite and PostgreSQL:
take = UPDATE ... WHERE expires_at <= now (or INSERT the first row; a unique key lets
exactly one of two racing inserts win); renew = UPDATE ... WHERE holder = me AND epoch
= mine AND expires_at > now. Times are the processes' clocks (UTC): processes on one
database should keep their clocks within a fraction of the lease of each other (NTP).

The loop never ends on a database error: a failed take or renewal (PostgreSQL restarting,
a dropped connection; the engine's `pool_pre_ping` replaces dead pooled connections) is
reported to the process's outage log (bot/db/retry.py: one line per outage, not per try)
and tried again next period. A leader that cannot renew (the database is away, or
another process holds a newer epoch) steps down, stopping its jobs, half a renewal
period before its lease runs out, measured on its own monotonic clock from the start of
its last successful renewal: by the time anyone else may take over, it has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import LeaderLease, utcnow
from bot.db.retry import OUTAGE, first_line, is_transient

log = logging.getLogger(__name__)

#: The lease the scheduled work (and Telegram polling) belongs to.
SCHEDULER_LEASE = "scheduler"

Callback = Callable[[int], Awaitable[None]]


def process_identity() -> str:
    """Who holds a lease, as an operator reads it: host, pid and a random suffix (a
    pid is reused after a restart; the suffix keeps the new process a new holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Lease:
    holder: str
    epoch: int


class LeaseStore:
    """The three statements on `leader_leases`; each is its own short transaction."""

    def __init__(self, sessions: sessionmaker[Session], name: str = SCHEDULER_LEASE) -> None:
        self._sessions = sessions
        self.name = name

    def try_take(self, holder: str, seconds: float) -> int | None:
        """Take the lease if it is free or expired: the new epoch, or None if it is held."""
        now = utcnow()
        expires = now + dt.timedelta(seconds=seconds)
        with self._sessions() as session:
            taken = session.execute(
                update(LeaderLease)
                .where(LeaderLease.name == self.name, LeaderLease.expires_at <= now)
                .values(
                    holder=holder,
                    epoch=LeaderLease.epoch + 1,
                    expires_at=expires,
                    renewed_at=now,
                )
                .returning(LeaderLease.epoch)
            ).scalar_one_or_none()
            if taken is None:
                if session.get(LeaderLease, self.name) is not None:
                    session.rollback()
                    return None
                session.add(
                    LeaderLease(
                        name=self.name, holder=holder, epoch=1, expires_at=expires, renewed_at=now
                    )
                )
                taken = 1
            try:
                session.commit()
            except IntegrityError:  # another process inserted the first row just now
                session.rollback()
                return None
            return int(taken)

    def renew(self, holder: str, epoch: int, seconds: float) -> bool:
        """Extend our lease; False if it is no longer ours (expired, or taken over)."""
        now = utcnow()
        with self._sessions() as session:
            result = session.execute(
                update(LeaderLease)
                .where(
                    LeaderLease.name == self.name,
                    LeaderLease.holder == holder,
                    LeaderLease.epoch == epoch,
                    LeaderLease.expires_at > now,
                )
                .values(expires_at=now + dt.timedelta(seconds=seconds), renewed_at=now)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, holder: str, epoch: int) -> None:
        """Let the lease go at once (a clean stop): the next process need not wait."""
        with self._sessions() as session:
            session.execute(
                update(LeaderLease)
                .where(
                    LeaderLease.name == self.name,
                    LeaderLease.holder == holder,
                    LeaderLease.epoch == epoch,
                )
                .values(expires_at=utcnow())
            )
            session.commit()

    def holds(self, holder: str, epoch: int) -> bool:
        """Is (holder, epoch) the lease's current, unexpired holder? The fencing check."""
        with self._sessions() as session:
            row = session.get(LeaderLease, self.name)
            return (
                row is not None
                and row.holder == holder
                and row.epoch == epoch
                and row.expires_at > utcnow()
            )

    def current(self) -> Lease | None:
        with self._sessions() as session:
            row = session.get(LeaderLease, self.name)
            if row is None or row.expires_at <= utcnow():
                return None
            return Lease(row.holder, row.epoch)


async def _nothing(epoch: int) -> None:
    return None


class LeaderElector:
    """Campaigns for the lease and calls `on_elected(epoch)` / `on_demoted(epoch)`.

    A plain asyncio task (`start()` / `stop()`). `is_leader` and the `elected` event
    tell other parts (the runtime's /healthz, Telegram polling) the role.
    """

    def __init__(
        self,
        store: LeaseStore,
        lease_seconds: float,
        on_elected: Callback = _nothing,
        on_demoted: Callback = _nothing,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.renew_every = lease_seconds / 3
        self.on_elected = on_elected
        self.on_demoted = on_demoted
        self.holder = holder or process_identity()
        self.epoch: int | None = None
        #: Set while this process leads; cleared before its jobs are stopped.
        self.elected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._step_down_at = 0.0
        #: Whether the role was logged since start-up (once: "role: follower", or elected).
        self._role_logged = False

    @property
    def is_leader(self) -> bool:
        return self.epoch is not None

    @property
    def role(self) -> str:
        return "leader" if self.is_leader else "follower"

    def holds(self, epoch: int) -> bool:
        """The fence of work started under `epoch`: still this process's leadership, in
        memory and in the store (a process that was paused may have been deposed without
        noticing yet)."""
        return self.epoch == epoch and self.store.holds(self.holder, epoch)

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"leader-elector-{self.store.name}")
        return self._task

    async def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; a leader stops its jobs and (by default) frees the lease."""
        if self._task is not None:
            # Cancel until it ends: on Python 3.11 `asyncio.wait_for` swallows a
            # cancellation that arrives as its inner call completes (gh-86296), and the
            # campaign then runs on while this waits for it forever (a SIGTERM at the
            # moment a renewal returned hung the shutdown of the takeover test).
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        epoch = self.epoch
        if epoch is None:
            return
        await self._demote("stopping")
        if release:
            try:
                await asyncio.to_thread(self.store.release, self.holder, epoch)
            except Exception as exc:  # it expires by itself; the next leader just waits
                log.warning("could not release the leader lease: %s", exc)

    async def run(self) -> None:
        while True:
            try:
                if self.epoch is None:
                    await self._campaign()
                else:
                    await self._keep()
            except Exception:
                # A callback failed: never leave a leader without its duties running.
                log.exception("leadership callback failed")
                await self._demote("a leadership callback failed")
            await asyncio.sleep(self._next_delay())

    def _next_delay(self) -> float:
        if self.epoch is None:
            return self.renew_every
        # A leader whose renewal failed tries again soon, but never past its step-down.
        left = self._step_down_at - time.monotonic()
        return max(0.0, min(self.renew_every, left))

    async def _campaign(self) -> None:
        started = time.monotonic()
        try:
            # No time limit here: a take abandoned by a timeout can still commit in its
            # thread and hold the lease with nobody knowing it leads (the likely cause of
            # a follower that never took over in a loaded CI run). A slow take is safe
            # to keep: the step-down time counts from before the call.
            epoch = await asyncio.to_thread(self.store.try_take, self.holder, self.lease_seconds)
        except Exception as exc:
            if is_transient(exc):  # the database is away: said once per outage
                OUTAGE.failed("campaigning for the leader lease", exc)
            else:
                log.warning("could not campaign for the leader lease: %s", first_line(exc))
            return
        OUTAGE.answered()
        if epoch is None:
            if not self._role_logged:  # the start-up line; later campaigns stay quiet
                self._role_logged = True
                log.info("role: follower (another process holds the leader lease)")
            return
        self._role_logged = True
        self.epoch = epoch
        self._step_down_at = started + self.lease_seconds - self.renew_every / 2
        self.elected.set()
        log.info("elected leader (epoch %d, holder %s)", epoch, self.holder)
        await self.on_elected(epoch)

    async def _keep(self) -> None:
        assert self.epoch is not None
        started = time.monotonic()
        budget = self._step_down_at - started
        renewed: bool | None = None
        if budget > 0:
            try:
                # asyncio.timeout, not wait_for: it never swallows a cancellation.
                async with asyncio.timeout(min(self.renew_every, budget)):
                    renewed = await asyncio.to_thread(
                        self.store.renew, self.holder, self.epoch, self.lease_seconds
                    )
            except TimeoutError:  # slow: try again shortly (the step-down time still holds)
                log.warning("could not renew the leader lease within %.1f s", self.renew_every)
            except Exception as exc:  # the database is away: try again shortly
                if is_transient(exc):
                    OUTAGE.failed("renewing the leader lease", exc)
                else:
                    log.warning("could not renew the leader lease: %s", first_line(exc))
        if renewed is not None:
            OUTAGE.answered()
        if renewed:
            self._step_down_at = started + self.lease_seconds - self.renew_every / 2
        elif renewed is False:
            await self._demote("another process holds the lease")
        elif time.monotonic() >= self._step_down_at - self.renew_every / 4:
            await self._demote("the lease could not be renewed in time")

    async def _demote(self, reason: str) -> None:
        epoch = self.epoch
        if epoch is None:
            return
        self.epoch = None
        self.elected.clear()
        # A clean stop is routine; losing the lease (database away, newer epoch) is not.
        level = logging.INFO if reason == "stopping" else logging.WARNING
        log.log(level, "stepping down as leader (epoch %d): %s", epoch, reason)
        try:
            await self.on_demoted(epoch)
        except Exception:
            log.exception("stopping the leader's duties failed")
