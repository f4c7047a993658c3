"""The `paperbot` command line: a thin layer over the core, one command per use case.

Each command's help text is its documentation; the README's CLI reference repeats
every command, and a test checks that none is missing there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.app import Core, build_core, configure_logging
from bot.core.numbers import MAX_NUMBER, parse_count
from bot.core.push import PushSummary
from bot.core.reviews import FieldChange
from bot.db import migrate
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import SUBSCRIBER_STATUSES
from bot.db.retry import first_line, is_transient
from bot.settings import Settings, SettingsError, env_files, load_settings

NO_TOKEN = (
    "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather in Telegram "
    "(https://t.me/BotFather), put its token in .env as TELEGRAM_BOT_TOKEN=..., "
    "or try `paperbot console`, which needs no token."
)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings)
    return settings


def _number(minimum: int = 0) -> Callable[[click.Context, click.Parameter, Any], int | None]:
    """A click callback reading a number as the bot does: ASCII digits, minimum..MAX_NUMBER
    (`int()` would take `١٢` for 12 and hand the database numbers no column can hold)."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> int | None:
        if value is None:
            return None
        number = parse_count(str(value))
        if number is None or number < minimum:
            raise click.BadParameter(f"{value!r} is not a number from {minimum} to {MAX_NUMBER}")
        return number

    return check


def _build_core(settings: Settings, *, upgrade: bool = True, seed: bool = True) -> Core:
    """build_core, with DB_AUTO_UPGRADE=false's refusal as one line, not a traceback."""
    try:
        return build_core(settings, upgrade=upgrade, seed=seed)
    except migrate.SchemaOutOfDateError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _core(*, seed: bool = False) -> Iterator[Core]:
    core = _build_core(_settings(), seed=seed)
    try:
        yield core
    finally:
        core.close()


_T = TypeVar("_T")


async def _closing(core: Core, work: Awaitable[_T]) -> _T:
    """Await `work`, then close the core's HTTP client in that same event loop."""
    try:
        return await work
    finally:
        await core.arxiv_client.aclose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paperbot")
def cli() -> None:
    """paperbot: the 论文解读 column's subscription bot.

    Settings come from the environment, then ./.env, then $PAPERBOT_HOME/.env (see
    .env.example). The store is $PAPERBOT_HOME/paperbot.db wherever paperbot starts
    (default ~/.local/share/paperbot); `paperbot status` shows which.
    """


@cli.command()
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes serving HTTP_HOST:HTTP_PORT together (default HTTP_WORKERS, 1): "
    "with more than 1 this process supervises them (each a replica on its own "
    "SO_REUSEPORT socket) and serves nothing itself.",
)
@click.option("--worker-of", type=int, default=None, hidden=True)
@click.option("--ready-fd", type=int, default=None, hidden=True)
def run(workers: int | None, worker_of: int | None, ready_fd: int | None) -> None:
    """Start the bot: one process serving HTTP (HTTP_HOST:HTTP_PORT: /healthz, /metrics,
    the Telegram webhook), the scheduled jobs and Telegram (TELEGRAM_MODE).

    Without TELEGRAM_BOT_TOKEN Telegram is off and the rest runs. Upgrades the database
    and seeds an empty one from content/ first. SIGTERM stops it cleanly. With
    --workers N (or HTTP_WORKERS=N) it starts N such processes on the same port, one a
    core, restarts one that dies and passes SIGTERM on to them all.
    """
    from bot.runtime import build_runtime, serve
    from bot.workers import AddressError, run_worker, supervise

    settings = _settings()
    if worker_of is not None:
        run_worker(settings, worker_of, ready_fd, partial(_build_core, upgrade=False, seed=False))
        return
    count = workers if workers is not None else settings.http_workers
    if count == 1:
        serve(build_runtime(_build_core(settings)))
        return
    try:
        status = supervise(settings, count, lambda: _build_core(settings).close())
    except AddressError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(3) from None
    raise SystemExit(status)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the /healthz document instead.")
def status(as_json: bool) -> None:
    """What /healthz reports: database, schema, channels, last push and arXiv poll.

    Computed from the database (no running process needed); the channels are shown
    as the settings configure them. Exit code 1 when the status is not "ok", 2 when
    there is no store yet (a SQLite file that does not exist is not created).
    """
    from bot.health import configured_channels, describe, health_report, single_process_role

    settings = _settings()
    store = {
        "data_dir": str(settings.effective_data_dir.resolve()),
        "data_dir_from": "DATA_DIR" if settings.data_dir is not None else "PAPERBOT_HOME",
        "database": _redacted_url(settings.effective_database_url),
        "env_files": [str(path.resolve()) for path in env_files() if path.is_file()],
    }
    missing = _missing_sqlite_file(settings.effective_database_url)
    if missing is not None:
        # Where the store would be is what an operator needs most here: say it, create
        # nothing (opening the file would create an empty one).
        if as_json:
            click.echo(
                json.dumps({"status": "no store", "store": store}, ensure_ascii=False, indent=2)
            )
        click.echo(
            f"no store yet at {missing}: `paperbot run` or `paperbot db upgrade` creates it",
            err=True,
        )
        sys.exit(2)
    engine = make_engine(settings.effective_database_url)
    try:
        report: dict[str, Any] = health_report(
            engine,
            make_session_factory(engine),
            configured_channels(settings),
            single_process_role(),
        )
        replicas = _replicas(engine)
    finally:
        engine.dispose()
    beat_every = settings.leader_lease_seconds / 3
    if as_json:
        report_json = {**report, "store": store, "replicas": _replicas_json(replicas, beat_every)}
        click.echo(json.dumps(report_json, ensure_ascii=False, indent=2))
    else:
        from bot.db.models import utcnow
        from bot.replicas import describe_replicas

        for line in describe(report):
            click.echo(line)
        for line in describe_replicas(replicas, utcnow(), beat_every):
            click.echo(line)
        click.echo(f"data directory: {store['data_dir']} ({store['data_dir_from']})")
        click.echo(f"store: {store['database']}")
        click.echo(f".env read: {', '.join(store['env_files']) or 'none'}")
    if report["status"] != "ok":
        sys.exit(1)


def _replicas(engine: Any) -> list[Any]:
    """Every replica's heartbeat row; none when the store is older than 0015 or away
    (the health report above already says so)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db.engine import make_session_factory as sessions_for
    from bot.replicas import ReplicaRegistry

    try:
        return ReplicaRegistry(sessions_for(engine)).all()
    except SQLAlchemyError:
        return []


def _replicas_json(replicas: list[Any], beat_every: float) -> list[dict[str, Any]]:
    from bot.db.models import utcnow
    from bot.replicas import MISSED_BEATS

    now = utcnow()
    return [
        {
            "holder": r.holder,
            "host": r.host,
            "pid": r.pid,
            "role": r.role,
            "version": r.version,
            "address": r.address,
            "started_at": r.started_at.isoformat(),
            "last_heartbeat": r.heartbeat_at.isoformat(),
            "seconds_since_heartbeat": round(r.age(now), 1),
            "alive": r.age(now) <= beat_every * MISSED_BEATS,
        }
        for r in replicas
    ]


def _missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file `url` names, if it does not exist (opening it would create it)."""
    from sqlalchemy.engine import make_url

    from bot.db.engine import normalize_url

    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).resolve()
    return None if path.exists() else path


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Write a consistent copy of the store to PATH, also while the bot runs.

    SQLite: the online backup API (one moment's state, checked). PostgreSQL: pg_dump's
    custom format (needs pg_dump on PATH; the error says how otherwise). PATH must not
    exist. `paperbot restore PATH` reads it back into an empty store.
    """
    from bot.db.backup import BackupError
    from bot.db.backup import backup as make_backup

    settings = _settings()
    if _missing_sqlite_file(settings.effective_database_url) is not None:
        raise click.ClickException(
            f"no store at {settings.effective_database_url}: nothing to back up"
        )
    try:
        click.echo(make_backup(settings.effective_database_url, path))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def restore(path: Path) -> None:
    """Restore the backup at PATH (from `paperbot backup`) into the store.

    Into an empty store only: a new SQLite file or PostgreSQL database, or one only
    `paperbot db upgrade` has written. A store with data is refused and left as it is.
    Stop the bot first; start it afterwards (it migrates an older backup's schema).
    """
    from bot.db.backup import BackupError
    from bot.db.backup import restore as restore_backup

    settings = _settings()
    try:
        click.echo(restore_backup(path, settings.effective_database_url))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", help="Reply language.")
@click.option("--admin", is_flag=True, help="Act as an editor (you have shell access already).")
@click.option(
    "--channel",
    type=click.Choice(["plain", "wechat"]),
    default="plain",
    help="wechat: show the replies as a WeChat follower gets them (numbered choices, cards).",
)
def console(lang: str, admin: bool, channel: str) -> None:
    """Chat with the bot in the terminal, on the same database; no token needed.

    Reads one message per line (/latest, /classic, /search 对齐, plain text ...) until
    end of input (Ctrl-D) or Ctrl-C. Type :N to tap button N of the last reply (a URL
    button prints its URL). At a terminal, lines are edited and recalled with readline.
    With --channel wechat, reply 1, 2, ... or 下一页 as on WeChat; :subscribe and
    :unsubscribe follow and unfollow.
    """
    from bot.channels.console import run_console

    with _core(seed=True) as core:
        interactive = sys.stdin.isatty()
        if channel == "wechat":
            from bot.channels.console import CONSOLE
            from bot.channels.wechat.preview import run_wechat_console
            from bot.channels.wechat.readers import WeChatReaders

            if interactive:
                click.echo("paperbot console (WeChat): 最新, 经典, 帮助 or a search; Ctrl-D quits.")
            readers = WeChatReaders(core, CONSOLE, core.settings.public_url)
            wechat_status = asyncio.run(
                _closing(core, run_wechat_console(readers, sys.stdin, sys.stdout, interactive))
            )
            sys.exit(wechat_status)
        if interactive:
            click.echo("paperbot console: /help lists commands; Ctrl-D quits.")
        try:
            status = asyncio.run(
                _closing(
                    core,
                    run_console(core.conversation, sys.stdin, sys.stdout, lang, interactive, admin),
                )
            )
        except KeyboardInterrupt:  # Ctrl-C: end at once, quietly, as a shell does
            click.echo("", err=True)
            status = 130
    sys.exit(status)


@cli.group()
def db() -> None:
    """Database schema: migrations with Alembic."""


@db.command("upgrade")
@click.argument("revision", default="heads")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the latest)."""
    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database back to REVISION ('base' removes every table)."""
    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        migrate.downgrade(engine, revision)
        click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")
    except RuntimeError as exc:  # a migration refusing to lose data (see 0007)
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


@db.command("current")
def db_current() -> None:
    """Print the database's revision and the latest one."""
    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    click.echo(f"current: {migrate.current_revision(engine) or 'base'}")
    click.echo(f"latest:  {migrate.head_revision(engine)}")
    engine.dispose()


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Also write fields corrected in the store since this file's last import.",
)
@click.option("--no-lint", is_flag=True, help="Do not check the imported reviews with arXiv.")
def import_(paths: tuple[Path, ...], dry_run: bool, overwrite: bool, no_lint: bool) -> None:
    """Import reviews from column documents or front-matter Markdown files.

    PATHS are files or directories (their *.md and *.txt files). The same review
    (by arXiv id, else slug) is updated, never duplicated. A file with an error is
    refused whole, with its file and line; the others are still imported.

    An update prints its changes field by field. A field corrected in the store since
    this file was last imported (or that this file never wrote) is kept, and the
    change not applied is printed; --overwrite applies it. Afterwards the imported
    reviews are checked against arXiv (as `paperbot lint`) when arXiv answers.
    """
    with _core() as core:
        reports = core.reviews.import_files(list(paths), dry_run=dry_run, overwrite=overwrite)
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        failed = kept = 0
        imported = []
        for report in reports:
            if report.error:
                failed += 1
                click.echo(f"error: {report.error}", err=True)
                continue
            for warning in report.warnings:
                click.echo(f"warning: {warning}", err=True)
            for outcome in report.outcomes:
                counts[outcome.action] += 1
                kept += len(outcome.kept)
                imported.append(outcome.review)
                review = outcome.review
                click.echo(f"{outcome.action:<9} #{review.id} {review.slug}  {review.title}")
                for line in _change_lines(outcome.changes):
                    click.echo(line)
        total = sum(counts.values())
        summary = ", ".join(f"{count} {action}" for action, count in counts.items())
        if kept:
            summary += f"; {_count(kept, 'field')} kept as corrected in the store"
        prefix = "dry run, nothing written: " if dry_run else ""
        refused = f"; {_count(failed, 'file')} refused" if failed else ""
        click.echo(f"{prefix}{_count(total, 'review')}: {summary}{refused}")
        if imported and not dry_run and not no_lint:
            _lint_imported(core, imported)
    if failed or not reports:
        if not reports:
            click.echo("error: no files to import", err=True)
        sys.exit(1)


def _shown_value(value: Any) -> str:
    """A field's value in a diff line: short text whole, a long body by its size."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    text = "" if value is None else str(value)
    if len(text) > 80:
        return f"<{len(text)} characters: {text[:40]!r}…>"
    return repr(text)


def _change_lines(changes: Sequence[FieldChange]) -> list[str]:
    lines = []
    for change in changes:
        diff = f"{_shown_value(change.stored)} -> {_shown_value(change.source)}"
        if change.applied:
            lines.append(f"    {change.field}: {diff}")
        else:
            lines.append(
                f"    kept {change.field}: {diff} not applied (corrected in the store since "
                "this file's last import; --overwrite applies it)"
            )
    return lines


def _lint_imported(core: Core, imported: list[Any]) -> None:
    """`lint` over what was just imported; arXiv not answering only skips it."""
    from bot.core.arxiv.http import ArxivUnavailableError
    from bot.core.arxiv.lint import LintSubject

    subjects = [LintSubject.of_review(review) for review in imported if review.arxiv_id]
    if not subjects:
        return
    try:
        report = asyncio.run(_closing(core, core.lint.lint(subjects)))
    except ArxivUnavailableError as exc:
        click.echo(f"lint skipped: arXiv did not answer ({exc})", err=True)
        return
    for mismatch in report.mismatches:
        click.echo(
            f"lint: {mismatch.where}: {mismatch.field}: {mismatch.found!r} -> "
            f"{mismatch.correction!r} ({mismatch.detail})"
        )
    verdict = _count(len(report.mismatches), "mismatch") if report.mismatches else "all match"
    click.echo(f"lint: {verdict} with arXiv ({_count(report.checked, 'review')} checked)")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write every review to DIRECTORY as front-matter Markdown (<slug>.md).

    The files import back to identical reviews. A slug that is not a safe file
    name (it could write outside DIRECTORY) stops the export before any file is written.
    """
    from bot.core.reviews import UnsafeSlugError

    with _core() as core:
        try:
            written = core.reviews.export(directory)
        except UnsafeSlugError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {_count(len(written), 'review')} to {directory}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def reviews(as_json: bool) -> None:
    """List reviews: id, slug, title, arXiv id, section, status, published_at."""
    with _core() as core:
        rows = core.reviews.all()
    records: list[dict[str, Any]] = [
        {
            "id": review.id,
            "slug": review.slug,
            "title": review.title,
            "arxiv_id": review.arxiv_id,
            "section": review.section,
            "status": review.status,
            "published_at": review.published_at.isoformat() if review.published_at else None,
        }
        for review in rows
    ]
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    for record in records:
        published = (record["published_at"] or "-")[:16]
        click.echo(
            f"{record['id']:>4}  {record['section']:<7} {record['status']:<9} {published:<16}  "
            f"{record['arxiv_id'] or '-':<12} {record['slug']}  {record['title']}"
        )


@cli.group()
def arxiv() -> None:
    """The arXiv watcher: poll the feeds into ranked candidates (see `candidates`)."""


@arxiv.command("poll")
@click.option("--force", is_flag=True, help="Also poll categories backing off after errors.")
def arxiv_poll(force: bool) -> None:
    """Poll every ARXIV_CATEGORIES feed once, store new candidates and rank them.

    The scheduled job (ARXIV_POLL_CRON) without its Telegram alert: the best pending
    candidates are printed instead. Each category's outcome is printed as it comes; the
    whole poll stops after ARXIV_DEADLINE_SECONDS. Exit status: 0 every category was
    polled, 1 some were (others failed, are backing off or ran out of time), 2 none was.
    """
    from bot.core.arxiv.watcher import CategoryOutcome
    from scheduler.arxiv_poll import poll_arxiv

    def progress(outcome: CategoryOutcome) -> None:
        click.echo(_describe_outcome(outcome), err=not outcome.polled)

    with _core(seed=True) as core:
        deadline = core.settings.arxiv_deadline_seconds
        categories = ", ".join(core.settings.arxiv_categories)
        click.echo(f"polling {categories} (at most {deadline:g} s, ARXIV_DEADLINE_SECONDS)")
        report = asyncio.run(
            _closing(
                core,
                poll_arxiv(
                    core.arxiv,
                    None,
                    (),
                    0,
                    force=force,
                    deadline_seconds=deadline,
                    on_progress=progress,
                ),
            )
        )
        best = core.arxiv.pending(core.settings.arxiv_top_n)
        pending = core.arxiv.count_pending()
    if report.timed_out:
        click.echo(
            f"stopped at the deadline (ARXIV_DEADLINE_SECONDS={deadline:g}); "
            "run `paperbot arxiv poll` again for the rest",
            err=True,
        )
    polled = report.polled
    click.echo(
        f"{polled} of {_count(len(report.outcomes), 'category')} polled; "
        f"{report.added} new candidates; {pending} pending. Best:"
    )
    for candidate in best:
        click.echo(f"{candidate.score:7.2f}  {candidate.arxiv_id:<12} {candidate.title}")
    if polled == 0:
        sys.exit(2)
    if polled < len(report.outcomes):
        sys.exit(1)


def _describe_outcome(outcome: Any) -> str:
    """One category's line of `arxiv poll`: what happened, and what to do about it."""
    if outcome.status == "skipped":
        until = outcome.backoff_until
        when = f"{until:%Y-%m-%d %H:%M} UTC" if until else "later"
        return (
            f"{outcome.category}: backing off after {_count(outcome.errors, 'error')} in a "
            f"row until {when}; `paperbot arxiv poll --force` polls it now"
        )
    if outcome.status == "deadline":
        return f"{outcome.category}: not polled, the deadline was reached"
    line = f"{outcome.category}: {outcome.status}"
    if outcome.polled:
        line += f", {outcome.entries} entries, {outcome.added} new candidates"
        if outcome.ignored_replacements:
            line += f", {outcome.ignored_replacements} replacements ignored"
    if outcome.problem:
        line += f" ({outcome.problem})"
    return line


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("-n", "limit", callback=_number(minimum=1), metavar="N", help="Only the N best.")
def candidates(as_json: bool, limit: int | None) -> None:
    """List pending arXiv candidates, best first: arXiv id, title, score and the reason.

    Candidates first seen in the last 7 days count; drafted and dismissed ones do not.
    """
    with _core() as core:
        rows = core.arxiv.pending(limit)
    records: list[dict[str, Any]] = [
        {
            "arxiv_id": candidate.arxiv_id,
            "version": candidate.version,
            "title": candidate.title,
            "score": candidate.score,
            "reason": candidate.reason,
            "authors": list(candidate.authors),
            "categories": list(candidate.categories),
            "announce_type": candidate.announce_type,
            "announced_on": candidate.announced_on.isoformat() if candidate.announced_on else None,
            "url": candidate.url,
            "abstract": candidate.abstract,
        }
        for candidate in rows
    ]
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    for record in records:
        click.echo(f"{record['score']:7.2f}  {record['arxiv_id']:<12} {record['title']}")
        click.echo(f"{'':9}{record['reason']}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--refresh", is_flag=True, help="Fetch every record again instead of the cache.")
def lint(paths: tuple[Path, ...], refresh: bool) -> None:
    """Check reviews' title, authors and date against their arXiv records.

    PATHS are column documents, front-matter files or directories of them; without
    PATHS, every review in the store is checked. Each mismatch is printed with its
    correction. Records come from ARXIV_API_URL in batches, spaced by
    ARXIV_REQUEST_INTERVAL (each request is announced as it goes), and are cached in
    the store; the whole lint stops after ARXIV_DEADLINE_SECONDS. Exit status: 0 all
    match, 1 mismatches, 2 a file could not be read or arXiv did not answer in time.
    """
    from bot.core.arxiv.http import ArxivUnavailableError
    from bot.core.arxiv.lint import LintSubject
    from bot.core.sources import ReviewFormatError, read_source, source_files

    subjects: list[LintSubject] = []
    unreadable = 0
    for path in source_files(list(paths)):
        try:
            subjects.extend(LintSubject.of_parsed(review) for review in read_source(path))
        except (ReviewFormatError, OSError) as exc:
            unreadable += 1
            click.echo(f"error: {exc}", err=True)

    def progress(number: int, batches: int, ids: int) -> None:
        click.echo(f"arXiv request {number} of {batches}: {_count(ids, 'record')}", err=True)

    with _core(seed=not paths) as core:
        if not paths:
            subjects = [LintSubject.of_review(review) for review in core.reviews.all()]
        deadline = core.settings.arxiv_deadline_seconds
        work = core.lint.lint(subjects, refresh=refresh, on_batch=progress)
        try:
            report = asyncio.run(_closing(core, asyncio.wait_for(work, deadline)))
        except ArxivUnavailableError as exc:
            click.echo(f"error: arXiv did not answer: {exc}", err=True)
            sys.exit(2)
        except TimeoutError:
            click.echo(
                f"error: arXiv did not answer within ARXIV_DEADLINE_SECONDS={deadline:g}; "
                "the records fetched so far are cached, run `paperbot lint` again later",
                err=True,
            )
            sys.exit(2)
    shown: set[str] = set()
    for mismatch in report.mismatches:
        if mismatch.where not in shown:
            shown.add(mismatch.where)
            click.echo(f"{mismatch.where}: arXiv:{mismatch.arxiv_id} {mismatch.title}")
        change = f"{mismatch.found!r} -> {mismatch.correction!r}"
        click.echo(f"  {mismatch.field}: {change} ({mismatch.detail})")
    for where in report.unlinked:
        click.echo(f"{where}: no arXiv id, not checked")
    verdict = (
        f"{_count(len(report.mismatches), 'mismatch')} in {_count(len(shown), 'review')}"
        if report.mismatches
        else "all match arXiv"
    )
    requests = _count(report.requests, "arXiv request")
    click.echo(f"checked {_count(report.checked, 'review')}: {verdict} ({requests})")
    if unreadable:
        sys.exit(2)
    if report.mismatches:
        sys.exit(1)


@cli.group()
def aliases() -> None:
    """Search aliases: terms that find each other (RLHF ⇄ 人类反馈强化学习).

    A search for any term of a group also finds reviews that use the others, a little
    below exact matches. Changes take effect at the next search; no re-indexing.
    """


@aliases.command("list")
def aliases_list() -> None:
    """List every alias group, one per line: TERM ⇄ SYNONYM ⇄ ..."""
    with _core() as core:
        groups = core.search.list_aliases()
    for group in groups:
        click.echo(" ⇄ ".join(group))
    click.echo(f"{len(groups)} alias groups")


@aliases.command("add")
@click.argument("term")
@click.argument("synonyms", nargs=-1, required=True)
def aliases_add(term: str, synonyms: tuple[str, ...]) -> None:
    """Make TERM and SYNONYMS find each other, e.g. `aliases add KV缓存 "KV cache"`.

    If TERM or a synonym is already in a group, the groups are joined. Case, full-width
    letters and plurals do not matter; quote a term that has spaces.
    """
    with _core() as core:
        try:
            group = core.search.add_aliases(term, synonyms)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(" ⇄ ".join(group))


@aliases.command("remove")
@click.argument("term")
def aliases_remove(term: str) -> None:
    """Take TERM out of its alias group (a group left with one term goes too)."""
    with _core() as core:
        rest = core.search.remove_alias(term)
    if rest is None:
        raise click.ClickException(f"no alias {term!r}; `paperbot aliases list` shows them")
    click.echo(f"removed {term}" + (f"; the group keeps {' ⇄ '.join(rest)}" if rest else ""))


# --- the editors' queue and the push -------------------------------------------------


async def _push_once(core: Core, *, trigger: str, retry_failed: bool = False) -> PushSummary:
    """One push with the same use case as the scheduled job (`run_everywhere`), through
    clients of its own: Telegram's Bot when TELEGRAM_BOT_TOKEN is set, WeChat's API when
    WeChat is on (its mass send with WECHAT_PUSH=mass; its editors hear the summary).

    An unreachable Bot API (connection refused, unknown host, bad token) is one clear
    line and a non-zero exit before anything is published, planned or sent.
    """
    import httpx

    from bot.core.broadcasts import Broadcaster, BroadcastService
    from bot.core.notify import Notifier, combine
    from bot.core.push import ChannelPush
    from scheduler.push import PushChannels, run_everywhere

    settings = core.settings
    deliveries: list[ChannelPush] = []
    broadcasters: list[Broadcaster] = []
    notifiers: list[Notifier] = []
    async with contextlib.AsyncExitStack() as stack:
        if settings.telegram_bot_token:
            from bot.channels.telegram.bridge import TelegramNotifier
            from bot.channels.telegram.sender import telegram_push

            bot = await _telegram_push_bot(core)
            stack.push_async_callback(bot.shutdown)
            deliveries.append(telegram_push(bot, settings.push_paid_broadcast))
            notifiers.append(TelegramNotifier(bot))
        if settings.wechat_enabled:
            from bot.channels.wechat.channel import push_parts

            http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            broadcaster, wechat_notifier = push_parts(core, http)
            if broadcaster is not None:
                broadcasters.append(broadcaster)
            notifiers.append(wechat_notifier)
        return await run_everywhere(
            core.push,
            BroadcastService(core.sessions, core.reviews.published_by_ids),
            PushChannels(deliveries, broadcasters),
            core.job_state,
            combine(notifiers),
            settings.admin_ids,
            trigger,
            retry_failed=retry_failed,
            # A database that stays away fails this push with one line (a rerun finishes
            # it); the running bot's push waits for it instead.
            until_done=False,
        )


async def _telegram_push_bot(core: Core) -> Any:
    """A Bot of the push's own, initialised; a rejected token or an unreachable API is
    a ClickException naming the setting (never the token)."""
    from telegram.error import InvalidToken, TelegramError

    from bot.channels.telegram.app import build_push_bot

    bot = build_push_bot(core.settings)
    try:
        await bot.initialize()
    except InvalidToken:  # PTB's message repeats the token: name the setting only
        await bot.shutdown()
        raise click.ClickException(
            "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized); nothing was sent, "
            "deliveries stay pending"
        ) from None
    except TelegramError as exc:
        await bot.shutdown()
        raise click.ClickException(
            f"cannot reach the Telegram Bot API at {core.settings.telegram_api_base_url}: "
            f"{exc.message}; nothing was sent, deliveries stay pending"
        ) from None
    return bot


def _stopped_at_deadline(core: Core, summary: PushSummary) -> click.ClickException:
    return click.ClickException(
        f"push #{summary.run_id} stopped at its deadline (PUSH_DEADLINE_SECONDS="
        f"{core.settings.push_deadline_seconds:g}) with {summary.left_pending} deliveries "
        "left pending; run `paperbot push` again to resume"
    )


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print who would get what; send nothing.")
@click.option(
    "--include",
    "include",
    multiple=True,
    metavar="ID|SLUG",
    help="Also push this published review (e.g. back catalogue) to every subscriber "
    "who has not had it. Repeatable.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Retry every delivery that failed for a transient reason (5xx, network, "
    "timeout), even past PUSH_MAX_RETRY_RUNS. Blocked or refused ones are never retried.",
)
def push(dry_run: bool, include: tuple[str, ...], retry_failed: bool) -> None:
    """Run one push now, with the same code as the weekly schedule.

    Publishes queued reviews whose time has come, then sends every active subscriber
    the reviews announced since they subscribed that they have not received, exactly
    once, at most PUSH_MAX_REVIEWS_PER_READER each. Reviews imported as already
    published are not pushed unless named with --include. Safe to run again or after
    a crash or a deadline: it resumes where the last run stopped. While the database
    is away it retries for DB_RETRY_SECONDS, then stops with one line (run it again
    later).
    """
    try:
        _push(dry_run, include, retry_failed)
    except Exception as exc:
        if not is_transient(exc):
            raise
        raise click.ClickException(
            f"push stopped: {first_line(exc)}. It resumes where it stopped when you "
            "run `paperbot push` again once the database answers."
        ) from None


def _push(dry_run: bool, include: tuple[str, ...], retry_failed: bool) -> None:
    from bot.channels.telegram.capabilities import TELEGRAM
    from bot.core.reviews import ReviewStateError

    with _core() as core:
        included = []
        for reference in include:
            review = core.reviews.find(reference, published_only=False)
            if review is None:
                raise click.ClickException(f"--include {reference}: no such review")
            if review.status != "published":
                raise click.ClickException(
                    f"--include {reference}: #{review.id} is {review.status}, not published "
                    f"(`paperbot publish {review.id}` publishes and pushes it)"
                )
            included.append(review.id)
        if dry_run:
            plans = core.push.preview(TELEGRAM, include=included)
            for plan in plans:
                subscriber = plan.subscriber
                titles = "; ".join(review.title for review in plan.reviews)
                click.echo(
                    f"{subscriber.channel}:{subscriber.chat_id} ({subscriber.push_format}, "
                    f"{subscriber.language}) <- {len(plan.reviews)}: {titles}"
                )
            total = sum(len(plan.reviews) for plan in plans)
            for waiting in core.push.waiting():
                review = waiting.review
                why = (
                    "a draft, not confirmed into the queue (`paperbot queue add` or Confirm)"
                    if waiting.reason == "unconfirmed"
                    else f"queued {_publish_when(core, review.publish_at)}, not due yet"
                )
                click.echo(f"not in this push: #{review.id} {review.title}: {why}")
            click.echo(
                f"dry run: {_count(len(plans), 'subscriber')} would get "
                f"{_count(total, 'review')}; nothing sent"
            )
            return
        settings = core.settings
        wechat_mass = settings.wechat_enabled and settings.wechat_push == "mass"
        if not settings.telegram_bot_token and not wechat_mass:
            raise click.ClickException(NO_TOKEN)
        if included:
            try:
                for review in core.reviews.announce(included):
                    click.echo(f"included #{review.id} {review.slug}")
            except ReviewStateError as exc:
                raise click.ClickException(str(exc)) from None
        summary = asyncio.run(_push_once(core, trigger="cli", retry_failed=retry_failed))
        click.echo(summary.describe())
        if settings.wechat_enabled and not wechat_mass:
            click.echo("WeChat: WECHAT_PUSH=off, nothing pushed there")
        for result in summary.broadcasts:
            if result.failed:
                raise click.ClickException(
                    f"{result.channel} broadcast {result.status}: {result.error}"
                )
        if summary.timed_out:
            raise _stopped_at_deadline(core, summary)


@cli.group()
def queue() -> None:
    """The editors' queue of reviews waiting to be published."""


@queue.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--at",
    "when",
    default=None,
    help="Publish not before this time, e.g. 2026-12-07 09:00 (TIMEZONE). "
    "Without: with the next push that runs, scheduled or `paperbot push`.",
)
@click.option(
    "--backdate",
    "--yes",
    "backdate",
    is_flag=True,
    help="Accept an --at time that has already passed (due at the next push).",
)
def queue_add(file: Path, when: str | None, backdate: bool) -> None:
    """Validate FILE (one review, column format or front matter) and queue it.

    Without --at it goes out with the next push that runs (the scheduled one, or
    `paperbot push` if that comes first); --at is a "not before" time. A time that has
    passed is refused unless --backdate (or --yes) confirms it.
    """
    from bot.core.features.editors import audience_lines, publish_time
    from bot.core.reviews import ReviewStateError
    from bot.core.sources import (
        PublishTimeInPastError,
        PublishTimeTooFarError,
        ReviewFormatError,
        read_source,
    )

    with _core() as core:
        settings = core.settings
        try:
            publish_at = publish_time(when or "", settings.zone, allow_past=backdate)
        except PublishTimeTooFarError as exc:
            raise click.ClickException(f"--at {when!r}: {exc}") from None
        except PublishTimeInPastError as exc:
            raise click.ClickException(
                f"--at {when!r}: {exc}; leave out --at to publish with the next push, "
                "or add --backdate to keep this time on purpose"
            ) from None
        except ValueError:
            raise click.ClickException(
                f"cannot read --at {when!r}; write 2026-12-07 or 2026-12-07 09:00"
            ) from None
        try:
            parsed = read_source(file)
        except ReviewFormatError as exc:
            raise click.ClickException(str(exc)) from None
        if len(parsed) != 1:
            raise click.ClickException(
                f"{file}: has {len(parsed)} reviews; queue one at a time (or use paperbot import)"
            )
        for warning in parsed[0].warnings:
            click.echo(f"warning: {warning}", err=True)
        try:
            staged = core.editorial.queue(parsed[0], publish_at)
        except ReviewStateError as exc:
            raise click.ClickException(str(exc)) from None
        review = staged.review
        core.audit.record("cli", "cli", "queue add", allowed=True, target=str(review.id))
        click.echo(
            f"queued #{review.id} {review.slug}  {review.title}  "
            f"{_publish_when(core, review.publish_at)}"
        )
        for line in audience_lines(staged, "en"):
            click.echo(line, err=staged.reach.missed > 0 and "reach" in line)


@queue.command("show")
@click.argument("review_id", callback=_number(), metavar="REVIEW_ID")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", help="Reader language.")
def queue_show(review_id: int, lang: str) -> None:
    """Print review REVIEW_ID (any status) as readers will see it, as plain text.

    The same rendering as `paperbot console`: headings in 【】, links as <URL>, and the
    buttons numbered at the end.
    """
    from bot.channels.console import render_reply
    from bot.core.reviews import ReviewStateError
    from bot.core.views import review_full

    with _core() as core:
        try:
            review = core.editorial.show(review_id)
        except ReviewStateError as exc:
            raise click.ClickException(str(exc)) from None
        zone = core.settings.zone
    moment = review.publish_at or review.published_at
    when = moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"
    click.echo(f"#{review.id} {review.status}, {when}, section {review.section}")
    click.echo()
    rendered, _ = render_reply(review_full(review, lang))
    click.echo(rendered)


@queue.command("list")
def queue_list() -> None:
    """List drafts and queued reviews with their publish times."""
    with _core() as core:
        zone = core.settings.zone
        waiting = core.reviews.in_queue()
        for review in waiting:
            when = (
                review.publish_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
                if review.publish_at
                else "next push"
            )
            click.echo(
                f"{review.id:>4}  {review.status:<7} {when:<22} {review.slug}  {review.title}"
            )
        click.echo(f"{_count(len(waiting), 'review')} waiting")


@cli.command()
@click.argument("review_id", callback=_number(), metavar="REVIEW_ID")
def publish(review_id: int) -> None:
    """Publish review REVIEW_ID now and push it to subscribers at once.

    While a bot is running (a process holds the leader lease), the push is queued for
    it, as /publish does, and this returns at once; otherwise this process pushes and
    waits for the end. Without TELEGRAM_BOT_TOKEN the next push delivers it.
    """
    from bot.core.leadership import LeaseStore
    from bot.core.push_requests import Requester
    from bot.core.reviews import ReviewStateError

    with _core() as core:
        leader = LeaseStore(core.sessions).current()
        requester = Requester("cli", "operator", "en") if leader is not None else None
        try:
            published = core.editorial.publish(review_id, requester)
        except ReviewStateError as exc:
            raise click.ClickException(str(exc)) from None
        review = published.review
        core.audit.record("cli", "cli", "publish", allowed=True, target=str(review_id))
        click.echo(f"published #{review.id} {review.title}")
        if published.request is not None and leader is not None:
            click.echo(
                f"queued for push (request #{published.request.id}), "
                f"{_count(published.subscribers, 'subscriber')}: the running bot ({leader.holder}) "
                "pushes it"
            )
            return
        if not core.settings.telegram_bot_token:
            click.echo("no TELEGRAM_BOT_TOKEN: the next push delivers it")
            return
        summary = asyncio.run(_push_once(core, trigger="publish"))
        click.echo(summary.describe())
        if summary.timed_out:
            raise _stopped_at_deadline(core, summary)


@cli.command()
@click.argument("review_id", callback=_number(), metavar="REVIEW_ID")
def unqueue(review_id: int) -> None:
    """Take queued review REVIEW_ID out of the queue (back to draft), as /unqueue does."""
    from bot.core.reviews import ReviewStateError

    with _core() as core:
        try:
            review = core.editorial.unqueue(review_id)
        except ReviewStateError as exc:
            raise click.ClickException(str(exc)) from None
        core.audit.record("cli", "cli", "unqueue", allowed=True, target=str(review_id))
        click.echo(f"#{review.id} {review.title} is a draft again")


@cli.command()
@click.argument("review_id", callback=_number(), metavar="REVIEW_ID")
def unpublish(review_id: int) -> None:
    """Take published review REVIEW_ID down (back to draft), as /unpublish does.

    Readers no longer see it in lists, search or /review, and no later push sends it;
    what was already delivered stays delivered. Recorded in the audit log.
    """
    from bot.core.reviews import ReviewStateError

    with _core() as core:
        try:
            review = core.editorial.unpublish(review_id)
        except ReviewStateError as exc:
            core.audit.record(
                "cli", "cli", "unpublish", allowed=True, target=str(review_id), detail=str(exc)
            )
            raise click.ClickException(str(exc)) from None
        core.audit.record("cli", "cli", "unpublish", allowed=True, target=str(review_id))
        click.echo(f"#{review.id} {review.title} is unpublished (a draft again)")


@cli.command()
def stats() -> None:
    """Subscribers by status, deliveries by status, and the recent pushes."""
    with _core() as core:
        counts = core.subscriptions.counts_by_status()
        click.echo(
            "subscribers: "
            + ", ".join(f"{status} {counts.get(status, 0)}" for status in SUBSCRIBER_STATUSES)
        )
        for run in core.push.recent_runs(10):
            started = run.started_at.astimezone(core.settings.zone).strftime("%Y-%m-%d %H:%M %Z")
            click.echo(
                f"push #{run.id} {started} {run.trigger:<9} {run.status:<8} sent {run.sent} "
                f"failed {run.failed} blocked {run.blocked} ({run.messages} messages, "
                f"{run.seconds:.1f} s)"
            )


def _publish_when(core: Core, moment: dt.datetime | None) -> str:
    """A queued review's time as the shell says it: none is the next push."""
    if moment is None:
        return "with the next push (scheduled or `paperbot push`)"
    return f"not before {moment.astimezone(core.settings.zone):%Y-%m-%d %H:%M %Z}"


def _redacted_url(url: str) -> str:
    """A database URL without its password, for `status`."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _count(number: int, noun: str) -> str:
    if number == 1:
        return f"{number} {noun}"
    if noun.endswith("y"):
        return f"{number} {noun[:-1]}ies"
    return f"{number} {noun}{'es' if noun.endswith('h') else 's'}"


def main() -> None:
    cli()


def _register_wechat() -> None:
    from bot.channels.wechat.cli_commands import make_group

    cli.add_command(make_group(_core), "wechat")


_register_wechat()
