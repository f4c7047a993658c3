"""Push requests: an editor's "push now", recorded by any process, run by the leader.

An update handler must answer at once, and must not run a push (minutes for a large
audience) or care which process is the leader. `/publish` records a request and answers
"queued for push, N subscribers"; the leader (bot/core/leader_duties.py) claims the
oldest pending request, runs the push and sends the requester the summary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import PushRequest, utcnow


@dataclass(frozen=True)
class Requester:
    """Where the summary goes: a channel and a chat address (a string), in a language."""

    channel: str
    address: str
    language: str = "zh"


@dataclass(frozen=True)
class PushRequestView:
    id: int
    requester: Requester
    trigger: str
    reviews: tuple[int, ...]
    status: str
    created_at: dt.datetime
    summary: str | None


def _view(row: PushRequest) -> PushRequestView:
    return PushRequestView(
        id=row.id,
        requester=Requester(row.channel, row.requested_by, row.language),
        trigger=row.trigger,
        reviews=tuple(int(review) for review in row.reviews or ()),
        status=row.status,
        created_at=row.created_at,
        summary=row.summary,
    )


class PushRequestService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self, requester: Requester, trigger: str, reviews: tuple[int, ...] = ()
    ) -> PushRequestView:
        with self._sessions() as session:
            row = PushRequest(
                channel=requester.channel,
                requested_by=requester.address,
                language=requester.language,
                trigger=trigger,
                reviews=list(reviews),
                status="pending",
                created_at=utcnow(),
            )
            session.add(row)
            session.commit()
            return _view(row)

    def claim_next(self) -> PushRequestView | None:
        """The oldest pending request, now marked running (one conditional UPDATE, so
        two claimers never take the same one)."""
        with self._sessions() as session:
            while True:
                row = session.scalar(
                    select(PushRequest)
                    .where(PushRequest.status == "pending")
                    .order_by(PushRequest.id)
                    .limit(1)
                )
                if row is None:
                    session.rollback()
                    return None
                claimed = session.execute(
                    update(PushRequest)
                    .where(PushRequest.id == row.id, PushRequest.status == "pending")
                    .values(status="running", started_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
                session.commit()
                if claimed.rowcount:  # type: ignore[attr-defined]
                    session.refresh(row)
                    return _view(row)

    def finish(self, request_id: int, *, ok: bool, summary: str) -> None:
        with self._sessions() as session:
            session.execute(
                update(PushRequest)
                .where(PushRequest.id == request_id)
                .values(status="done" if ok else "failed", finished_at=utcnow(), summary=summary)
            )
            session.commit()

    def requeue_unfinished(self) -> int:
        """Requests a former leader started and never finished go back to pending; the
        push they ran resumes from the outbox, so running them again sends no twice."""
        with self._sessions() as session:
            result = session.execute(
                update(PushRequest)
                .where(PushRequest.status == "running")
                .values(status="pending", started_at=None)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]

    def get(self, request_id: int) -> PushRequestView | None:
        with self._sessions() as session:
            row = session.get(PushRequest, request_id)
            return _view(row) if row is not None else None
