"""`paperbot backup` while a real `paperbot push` writes, and `paperbot restore`.

The push records each delivery as sent and its subscriber's last_pushed_at in one
transaction with one timestamp. A backup holding half a transaction, or a mix of two
moments, shows as a sent delivery whose subscriber was not touched (or the reverse);
one moment's state shows every delivery the push had recorded by then, each exactly
as the store still has it at the end, and the reviews and subscribers unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.cli import run_cli
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.paths import DATA_DIR
from tests.support.stores import postgres_url, require_postgres
from tests.test_push_processes import environment, prepare, spawn_push

CHATS = range(5000, 5240)


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def sent_count(url: str) -> int:
    return int(rows(url, "SELECT count(*) FROM deliveries WHERE status = 'sent'")[0][0])


DELIVERIES = (
    "SELECT d.id, d.subscriber_id, d.review_id, d.status, d.message_ids, d.sent_at,"
    " s.last_pushed_at FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
    " ORDER BY d.id"
)
SUBSCRIBERS = "SELECT id, channel, chat_id, status, subscribed_at FROM subscribers ORDER BY id"
REVIEWS = "SELECT id, slug, title, status, body, published_at FROM reviews ORDER BY id"


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (a restore's target is another database, as on
    a new machine; the backup's schema is recreated in it), dropped afterwards."""
    require_postgres()
    name = f"restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def restore_target(database_url: str, tmp_path: Path) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'paperbot.db'}"
        return
    schema = str(make_url(database_url).query["options"])
    with fresh_database() as url:
        yield f"{url}?options={quote(schema)}"


def test_backup_during_a_push_restores_what_was_committed(
    database_url: str, tmp_path: Path
) -> None:
    backup = tmp_path / "backup.bin"
    with FakeTelegramServer(latency=0.01) as server:
        prepare(database_url, tmp_path, CHATS)
        env = environment(database_url, server, PUSH_MAX_PER_SECOND="40", PUSH_CONCURRENCY="4")
        queued = run_cli(
            ["queue", "add", str(DATA_DIR / "front_matter_review.md")], tmp_path, **env
        )
        assert queued.returncode == 0, queued.stderr
        push = spawn_push(tmp_path, env)
        try:
            server.wait_for(
                lambda calls: sum(c.method == "sendMessage" and c.ok for c in calls) >= 30,
                timeout=60,
            )
            # Stalled sends keep the push running however long the backup takes to
            # start on a loaded machine; its in-flight deliveries are the "during".
            server.hold("sendMessage")
            sent_before = sent_count(database_url)
            made = run_cli(["backup", str(backup)], tmp_path, **env)
            sent_after = sent_count(database_url)
            assert made.returncode == 0, made.stderr
            assert "backup written" in made.stdout
            assert push.poll() is None, "the push ended before the backup did"
        finally:
            server.release("sendMessage")
            _stdout, stderr = push.communicate(timeout=120)
        assert push.returncode == 0, stderr
    final = {row[0]: row for row in rows(database_url, DELIVERIES)}
    assert {row[3] for row in final.values()} == {"sent"}

    with restore_target(database_url, tmp_path) as target:
        restored = run_cli(["restore", str(backup)], tmp_path, **{**env, "DATABASE_URL": target})
        assert restored.returncode == 0, restored.stderr
        assert "restored" in restored.stdout
        # The push published the queued review before the backup; nothing changed since.
        assert rows(target, REVIEWS) == rows(database_url, REVIEWS)
        assert rows(target, SUBSCRIBERS) == rows(database_url, SUBSCRIBERS)
        backed_up = rows(target, DELIVERIES)

    assert len(backed_up) == len(final) == len(CHATS)
    sent = [row for row in backed_up if row[3] == "sent"]
    print(
        f"sent when the backup started {sent_before}, in the backup {len(sent)}, "
        f"when it ended {sent_after}, in all {len(final)}"
    )
    # One moment between the two counts: all the push had committed then, no more.
    assert sent_before <= len(sent) <= sent_after < len(final)
    for row in backed_up:
        if row[3] == "sent":
            assert row == final[row[0]]  # as the store has it: nothing half-written
            assert row[6] == row[5]  # its subscriber touched in the same transaction
        else:
            assert row[5] is None and row[6] is None, row  # neither half of the commit


def test_restore_refuses_a_store_with_data(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    assert run_cli(["console"], tmp_path, DATABASE_URL=source).returncode == 0  # seeds
    assert (
        run_cli(["backup", str(tmp_path / "b.db")], tmp_path, DATABASE_URL=source).returncode == 0
    )
    again = run_cli(["backup", str(tmp_path / "b.db")], tmp_path, DATABASE_URL=source)
    assert again.returncode == 1 and "exists already" in again.stderr

    before = rows(source, REVIEWS)
    refused = run_cli(["restore", str(tmp_path / "b.db")], tmp_path, DATABASE_URL=source)
    assert refused.returncode == 1
    assert "is not empty: " in refused.stderr and "reviews (5 rows)" in refused.stderr
    assert rows(source, REVIEWS) == before

    # A store only `db upgrade` wrote is empty: the restore goes in.
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert run_cli(["db", "upgrade"], tmp_path, DATABASE_URL=fresh).returncode == 0
    done = run_cli(["restore", str(tmp_path / "b.db")], tmp_path, DATABASE_URL=fresh)
    assert done.returncode == 0, done.stderr
    assert rows(fresh, REVIEWS) == before


def test_restore_refuses_a_file_of_the_other_kind(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    target = f"sqlite:///{tmp_path / 'target.db'}"
    refused = run_cli(["restore", str(junk)], tmp_path, DATABASE_URL=target)
    assert refused.returncode == 1 and "is not a SQLite backup" in refused.stderr
    assert not (tmp_path / "target.db").exists() or rows(target, "SELECT 1") == [(1,)]
    missing = run_cli(["restore", str(tmp_path / "none.db")], tmp_path, DATABASE_URL=target)
    assert missing.returncode == 1 and "no backup at" in missing.stderr


@pytest.mark.postgres
def test_postgres_backup_without_pg_dump_says_how(postgres_schema_url: str, tmp_path: Path) -> None:
    from tests.support.cli import PAPERBOT

    result = run_cli(
        ["backup", str(tmp_path / "b.dump")],
        tmp_path,
        DATABASE_URL=postgres_schema_url,
        PATH=str(PAPERBOT.parent),  # this venv only: no pg_dump
    )
    assert result.returncode == 1
    assert "pg_dump is not on PATH" in result.stderr
    assert "apt-get install postgresql-client" in result.stderr
    assert not (tmp_path / "b.dump").exists()
