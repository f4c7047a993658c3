"""Small reads on the DBAPI connection (bot/db/driver_reads.py) return what the same
Core statement returns through SQLAlchemy: JSON columns decoded, UTC datetimes as
parameters and results, literal values in the statement, no row. On both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from bot.app import Core
from bot.core.reviews import ReviewView
from bot.db.driver_reads import DriverRead, DriverWrite
from bot.db.engine import read_only
from bot.db.models import ButtonState, ChatList, Review

_STATES = ButtonState.__table__
_LISTS = ChatList.__table__


def test_a_driver_read_returns_what_sqlalchemy_returns(core: Core) -> None:
    now = dt.datetime(2026, 12, 3, 18, 0, tzinfo=dt.UTC)
    engine = core.sessions.kw["bind"]
    with engine.begin() as connection:
        connection.execute(
            _STATES.insert(),
            [
                {
                    "token": token,
                    "payload": {"q": "对齐", "n": n, "nested": [1, {"x": None}]},
                    "created_at": now,
                    "expires_at": now + dt.timedelta(minutes=n),
                }
                for n, token in ((1, "soon"), (30, "later"))
            ],
        )
        connection.execute(
            _LISTS.insert(),
            {
                "channel": "wechat",
                "chat_id": "o1",
                "list_key": "search:对齐",
                "items": {"1": 7, "2": 9},
                "updated_at": now,
            },
        )
    live = select(_STATES.c.token, _STATES.c.payload, _STATES.c.expires_at).where(
        _STATES.c.expires_at > bindparam("now"), _STATES.c.token != "never"
    )
    reads = read_only(engine)
    for at in (now, now + dt.timedelta(minutes=5), now + dt.timedelta(hours=1)):
        with engine.connect() as connection:
            expected = [tuple(row) for row in connection.execute(live, {"now": at})]
        got = DriverRead(live).all(reads, {"now": at})
        assert sorted(got) == sorted(expected), at
    later = DriverRead(live).all(reads, {"now": now + dt.timedelta(minutes=5)})
    payload = {"q": "对齐", "n": 30, "nested": [1, {"x": None}]}
    assert later == [("later", payload, now + dt.timedelta(minutes=30))]
    assert later[0][2].tzinfo is not None

    row = select(_LISTS.c.list_key, _LISTS.c["items"]).where(
        _LISTS.c.channel == bindparam("channel"), _LISTS.c.chat_id == bindparam("chat_id")
    )
    chat_list = DriverRead(row)
    assert chat_list.first(reads, {"channel": "wechat", "chat_id": "o1"}) == (
        "search:对齐",
        {"1": 7, "2": 9},
    )
    assert chat_list.first(reads, {"channel": "wechat", "chat_id": "nobody"}) is None


def test_the_stores_reads_see_what_was_written(core: Core) -> None:
    """The three hot reads that moved to the DBAPI connection, through their stores."""
    lists, states = core.reading.chat_lists, core.reading.button_states
    lists.remember("wechat", "o2", "latest", 1, [11, 12, 13])
    assert lists.recall("wechat", "o2", 2) == 12
    assert lists.recall("wechat", "o2", 4) is None
    assert lists.number_of("wechat", "o2", 13) == 3
    states.keep_for("o2", {"choices": {"1": "r:11"}})
    assert states.recall_for("o2") == {"choices": {"1": "r:11"}}
    assert states.recall_for("o3") is None
    assert core.subscriptions.language_of("wechat", "o2") is None
    core.subscriptions.subscribe("wechat", "o2", language="en")
    assert core.subscriptions.language_of("wechat", "o2") == "en"


def test_search_results_are_the_reviews_the_orm_reads(core: Core, seed_file: Path) -> None:
    """A search reads its results' reviews without the ORM (`SearchService._views`): the
    column's real first issue (dates, tags, authors, bodies) gives the same views."""
    reports = core.reviews.import_files([seed_file])
    assert all(report.error is None for report in reports)
    with core.sessions.begin() as session:
        for row in session.scalars(select(Review)):
            row.status, row.published_at = "published", row.updated_at
    items = [
        item for query in ("mamba", "对齐", "模型") for item in core.search.search(query).items
    ]
    assert len({item.id for item in items}) >= 3
    with core.sessions() as session:
        for item in items:
            row = session.get(Review, item.id)
            assert row is not None
            assert item == ReviewView.of(row)
            assert item.paper_date is not None and item.updated_at.tzinfo is not None


def test_a_driver_write_stores_what_sqlalchemy_stores(core: Core) -> None:
    """The same UPDATE over many rows through `DriverWrite` and through
    `Connection.execute`: byte for byte the same stored values (a UTC datetime as the
    column's type writes it, JSON text), literals of the statement included; and a
    failure is SQLAlchemy's own exception, with nothing of the transaction kept."""
    created = dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC)
    engine = core.sessions.kw["bind"]
    tokens = [f"t{n}" for n in range(6)]
    with engine.begin() as connection:
        connection.execute(
            _STATES.insert(),
            [
                {"token": t, "payload": {}, "created_at": created, "expires_at": created}
                for t in tokens
            ],
        )
    update = (
        _STATES.update()
        .where(_STATES.c.token == bindparam("t"), _STATES.c.token != "never")
        .values(payload=bindparam("p"), expires_at=bindparam("at"), created_at=created)
    )
    at = dt.datetime(2026, 12, 4, 2, 30, 15, 123456, tzinfo=dt.UTC)
    # Rows n and n + 3 get the same values, one through each path.
    rows = [
        {"t": t, "p": {"q": "对齐", "n": n % 3, "x": [None, True]}, "at": at}
        for n, t in enumerate(tokens)
    ]
    with engine.begin() as connection:
        connection.execute(update, rows[:3])
        DriverWrite(update).many(connection, rows[3:])
    with engine.connect() as connection:
        stored = connection.exec_driver_sql(
            "SELECT token, payload, expires_at, created_at FROM button_states ORDER BY token"
        ).all()
    assert [row[1:] for row in stored[3:]] == [row[1:] for row in stored[:3]]
    with engine.connect() as connection:
        read = select(_STATES.c.payload, _STATES.c.expires_at).order_by(_STATES.c.token)
        assert [tuple(row) for row in connection.execute(read)] == [(row["p"], at) for row in rows]

    duplicate = _STATES.insert().values(
        token=bindparam("t"), payload={}, created_at=created, expires_at=created
    )
    with pytest.raises(IntegrityError), engine.begin() as connection:
        DriverWrite(duplicate).many(connection, [{"t": "fresh"}, {"t": "t0"}])
    with engine.connect() as connection:
        assert (
            connection.exec_driver_sql(
                "SELECT count(*) FROM button_states WHERE token = 'fresh'"
            ).scalar()
            == 0
        )
