"""`paperbot backup` and `paperbot restore`: a consistent copy of the store while it runs.

A copy of the files of a running store is not a backup: SQLite in WAL mode keeps recent
commits in `paperbot.db-wal`, and a file copied while a push records its deliveries can
hold half of a transaction. Each backend has its own way to take one snapshot:

- SQLite: the online backup API (`sqlite3.Connection.backup`) in one step, which reads
  the whole database inside one read transaction: every commit before it, none after,
  while the bot goes on writing (WAL readers do not block writers). The copy is checked
  (`PRAGMA integrity_check`) before it is moved into place.
- PostgreSQL: `pg_dump --format=custom`, which dumps inside one repeatable-read
  transaction (a snapshot). Only the schema the URL's search_path names is dumped when it
  names one. Without pg_dump on PATH the error says what to install or run.

Restore goes into an empty store only: one without tables, or one that only
`paperbot db upgrade` has written (its own rows in alembic_version, search_state and
search_aliases). Anything else is refused and left untouched: a restore that merges
into live data cannot be undone. A backup is written to `PATH.partial` and renamed, so
a failed one never leaves a file that looks complete.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url

from bot.db.engine import make_engine, normalize_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
#: Tables `paperbot db upgrade` fills by itself; rows there do not make a store non-empty.
MIGRATION_TABLES = frozenset({"alembic_version", "search_state", "search_aliases"})
#: What a restore reports, and what the tests compare.
COUNTED_TABLES = ("reviews", "subscribers", "deliveries")
#: How long pg_dump / pg_restore may take before the command gives up.
PG_TIMEOUT_SECONDS = 3600


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class StoreSummary:
    revision: str | None
    counts: dict[str, int]

    def describe(self) -> str:
        counts = ", ".join(f"{n} {table}" for table, n in self.counts.items())
        return f"schema {self.revision or 'none'}; {counts}"


def backend(url: str) -> str:
    return make_url(normalize_url(url)).get_backend_name()


def sqlite_path(url: str) -> Path:
    database = make_url(normalize_url(url)).database
    if not database or database == ":memory:":
        raise BackupError(f"{url} is not a SQLite file")
    return Path(database)


# --- backup ------------------------------------------------------------------------------


def backup(url: str, target: Path) -> str:
    """Write a consistent copy of the store at `url` to `target`; one line about it."""
    if target.exists():
        raise BackupError(f"{target} exists already: choose a new path (backups never overwrite)")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if backend(url) == "sqlite":
            _backup_sqlite(sqlite_path(url), partial)
        else:
            _backup_postgres(url, partial)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    size = target.stat().st_size
    kind = "SQLite" if backend(url) == "sqlite" else "pg_dump custom archive"
    line = f"backup written: {target} ({kind}, {size:,} bytes)"
    if backend(url) == "sqlite":
        line += f"; {_summarize_sqlite_file(target).describe()}"
    return line


def _backup_sqlite(source: Path, partial: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no store at {source}: nothing to back up")
    # Opened read-write (a WAL reader needs the -shm file) but never written to.
    origin = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(partial)
    try:
        origin.execute("PRAGMA busy_timeout=30000")
        # pages=-1: all pages in one step, inside one read transaction: one moment's
        # state. (Several small steps would restart, or mix, under concurrent writes.)
        origin.backup(copy, pages=-1)
        # The copy is a plain rollback-journal file: one self-contained file to keep.
        copy.execute("PRAGMA journal_mode=DELETE")
        verdict = copy.execute("PRAGMA integrity_check").fetchone()
        if verdict is None or verdict[0] != "ok":
            raise BackupError(f"the copy of {source} failed its integrity check: {verdict}")
    finally:
        copy.close()
        origin.close()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL as libpq (pg_dump, pg_restore) takes it, and the environment carrying
    the password (never on the command line, where `ps` shows it)."""
    parsed = make_url(normalize_url(url))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain: URL = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def search_path_schema(url: str) -> str | None:
    """The schema `options=-csearch_path=NAME` picks, if the URL has one."""
    options = make_url(normalize_url(url)).query.get("options")
    values = [options] if isinstance(options, str) else list(options or ())
    for value in values:
        for part in unquote(value).split():
            for prefix in ("-csearch_path=", "search_path="):
                if part.startswith(prefix):
                    return part.removeprefix(prefix).split(",")[0].strip() or None
    return None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH. Install PostgreSQL's client tools of the server's major "
            "version (Debian: apt-get install postgresql-client), or run it yourself: "
            "`pg_dump --format=custom --file=PATH DATABASE_URL` makes a file "
            "`paperbot restore PATH` reads, and `pg_restore --no-owner --dbname=URL PATH` "
            "restores one"
        )
    return found


def _backup_postgres(url: str, partial: Path) -> None:
    pg_dump = _tool("pg_dump")
    dsn, env = _libpq(url)
    command = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}"]
    schema = search_path_schema(url)
    if schema is not None:
        command.append(f"--schema={schema}")
    _run([*command, f"--dbname={dsn}"], env)


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        name = Path(command[0]).name
        raise BackupError(f"{name} did not finish within {PG_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise BackupError(
            f"{Path(command[0]).name} failed (exit {done.returncode}): {done.stderr.strip()}"
        )


# --- restore -----------------------------------------------------------------------------


def restore(source: Path, url: str) -> str:
    """Restore the backup `source` into the empty store at `url`; one line about it."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    with source.open("rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    kind = backend(url)
    if kind == "sqlite" and not magic.startswith(SQLITE_MAGIC):
        raise BackupError(
            f"{source} is not a SQLite backup; the store ({url}) is SQLite. A PostgreSQL "
            "backup restores into PostgreSQL (set DATABASE_URL)"
        )
    if kind != "sqlite" and not magic.startswith(PG_DUMP_MAGIC):
        raise BackupError(
            f"{source} is not a pg_dump custom archive; the store is PostgreSQL. A SQLite "
            "backup restores into SQLite (DATABASE_URL=sqlite:///...)"
        )
    engine = make_engine(url)
    try:
        filled = non_empty_tables(engine)
        has_tables = bool(_tables(engine))
    finally:
        engine.dispose()
    if filled:
        shown = ", ".join(f"{table} ({n} rows)" for table, n in list(filled.items())[:4])
        raise BackupError(
            f"the store at {_shown(url)} is not empty: {shown}. `paperbot restore` goes "
            "into an empty store only (nothing was changed): point DATABASE_URL at a new "
            "database or file, or empty this one yourself first"
        )
    if kind == "sqlite":
        _restore_sqlite(source, sqlite_path(url))
    else:
        _restore_postgres(source, url, clean=has_tables)
    return f"restored {source} into {_shown(url)}: {summarize(url).describe()}"


def _restore_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(target, timeout=30)
    try:
        origin.backup(copy, pages=-1)  # replaces every page: the empty schema goes too
        copy.execute("PRAGMA journal_mode=WAL")  # as bot.db.engine opens it
    finally:
        copy.close()
        origin.close()


def _restore_postgres(source: Path, url: str, *, clean: bool) -> None:
    pg_restore = _tool("pg_restore")
    dsn, env = _libpq(url)
    command = [
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
    ]
    if clean:
        # Only empty tables (checked above): those `db upgrade` made give way to the
        # backup's own, which may be of another revision.
        command += ["--clean", "--if-exists"]
    _run([*command, f"--dbname={dsn}", str(source)], env)


def _tables(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # current_schemas(false): the search_path's schemas that exist (none may).
            rows = connection.execute(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = ANY(current_schemas(false)) "
                    "AND table_type = 'BASE TABLE'"
                )
            )
            return sorted(str(row[0]) for row in rows)
        names = set(inspect(connection).get_table_names())
        # An FTS5 table's shadow tables (search_fts_data, _config, ...) hold its index,
        # not data of their own: the virtual table stands for them.
        virtual = [
            str(row[0])
            for row in connection.execute(
                text("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")
            )
        ]
        shadows = {n for n in names for v in virtual if n.startswith(v + "_")}
        return sorted((names - shadows) | set(virtual))


def non_empty_tables(engine: Engine) -> dict[str, int]:
    """Tables holding rows that `paperbot db upgrade` did not write, with their counts."""
    found: dict[str, int] = {}
    tables = [t for t in _tables(engine) if t not in MIGRATION_TABLES]
    with engine.connect() as connection:
        for table in tables:
            quoted = engine.dialect.identifier_preparer.quote(table)
            count = int(connection.scalar(text(f"SELECT count(*) FROM {quoted}")) or 0)
            if count:
                found[table] = count
    return found


def summarize(url: str) -> StoreSummary:
    engine = make_engine(url)
    try:
        tables = set(_tables(engine))
        with engine.connect() as connection:
            revision = (
                connection.scalar(text("SELECT version_num FROM alembic_version"))
                if "alembic_version" in tables
                else None
            )
            counts = {
                table: int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for table in COUNTED_TABLES
                if table in tables
            }
    finally:
        engine.dispose()
    return StoreSummary(None if revision is None else str(revision), counts)


def _summarize_sqlite_file(path: Path) -> StoreSummary:
    """The summary of a backup file, read-only (an engine would turn on WAL in it)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        revision = (
            connection.execute("SELECT version_num FROM alembic_version").fetchone()
            if "alembic_version" in tables
            else None
        )
        counts = {
            table: int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in COUNTED_TABLES
            if table in tables
        }
    finally:
        connection.close()
    return StoreSummary(None if revision is None else str(revision[0]), counts)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
