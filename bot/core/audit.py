"""The admin audit log: every editor action, and every refused attempt at one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AuditLog, utcnow


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    channel: str
    actor: str
    action: str
    target: str | None
    allowed: bool
    detail: str


class AuditRepository:
    """Writes and reads audit rows; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, entry: AuditEntry) -> None:
        self.session.add(
            AuditLog(
                at=entry.at,
                channel=entry.channel,
                actor=entry.actor,
                action=entry.action,
                target=entry.target,
                allowed=entry.allowed,
                detail=entry.detail,
            )
        )

    def recent(self, limit: int) -> Sequence[AuditLog]:
        query = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
        return self.session.scalars(query).all()


class AuditService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def record(
        self,
        channel: str,
        actor: str,
        action: str,
        *,
        allowed: bool,
        target: str | None = None,
        detail: str = "",
    ) -> None:
        entry = AuditEntry(utcnow(), channel, actor, action, target, allowed, detail[:2000])
        with self.sessions.begin() as session:
            AuditRepository(session).add(entry)

    def recent(self, limit: int = 50) -> list[AuditEntry]:
        with self.sessions() as session:
            return [
                AuditEntry(
                    row.at, row.channel, row.actor, row.action, row.target, row.allowed, row.detail
                )
                for row in AuditRepository(session).recent(limit)
            ]
