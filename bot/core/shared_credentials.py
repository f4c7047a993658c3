"""Short-lived service credentials shared by every process (WeChat's access_token).

WeChat's `stable_token` hands every caller the same token until it nears expiry, but a
token fetched by each replica on its own is still a request per process per refresh and,
with the older `token` endpoint, invalidates the others'. Kept in the database, one
process refreshes and all use it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ChannelCredential, utcnow


@dataclass(frozen=True, slots=True)
class Credential:
    value: str
    expires_at: dt.datetime


class SharedCredentials:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, channel: str, name: str) -> Credential | None:
        with self._sessions() as session:
            row = session.scalar(
                select(ChannelCredential).where(
                    ChannelCredential.channel == channel, ChannelCredential.name == name
                )
            )
            return None if row is None else Credential(row.value, row.expires_at)

    def put(self, channel: str, name: str, value: str, expires_at: dt.datetime) -> None:
        try:
            self._put(channel, name, value, expires_at)
        except IntegrityError:
            # Another process stored the first one a moment ago: now there is a row.
            self._put(channel, name, value, expires_at)

    def _put(self, channel: str, name: str, value: str, expires_at: dt.datetime) -> None:
        with self._sessions() as session:
            row = session.get(ChannelCredential, (channel, name))
            now = utcnow()
            if row is None:
                session.add(
                    ChannelCredential(
                        channel=channel,
                        name=name,
                        value=value,
                        expires_at=expires_at,
                        updated_at=now,
                    )
                )
            else:
                row.value, row.expires_at, row.updated_at = value, expires_at, now
            session.commit()
