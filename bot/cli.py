"""The `paperbot` command line: a thin layer over the core, one command per use case.

Each command's help text is its documentation; the README's CLI reference repeats
every command, and a test checks that none is missing there.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from bot.app import Core, build_core, configure_logging
from bot.db import migrate
from bot.db.engine import make_engine
from bot.settings import Settings, SettingsError, load_settings

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


@contextmanager
def _core(*, seed: bool = False) -> Iterator[Core]:
    core = build_core(_settings(), seed=seed)
    try:
        yield core
    finally:
        core.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="paperbot")
def cli() -> None:
    """paperbot: the 论文解读 column's subscription bot.

    Settings come from the environment and .env (see .env.example).
    """


@cli.command()
def run() -> None:
    """Start the Telegram bot (long polling against TELEGRAM_API_BASE_URL).

    Upgrades the database and seeds an empty one from content/ first.
    """
    settings = _settings()
    if not settings.telegram_bot_token:
        click.echo(NO_TOKEN, err=True)
        sys.exit(2)
    from bot.channels.telegram.app import run_polling

    core = build_core(settings)
    run_polling(core)


@cli.command()
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", help="Reply language.")
@click.option("--admin", is_flag=True, help="Act as an editor (you have shell access already).")
def console(lang: str, admin: bool) -> None:
    """Chat with the bot in the terminal, on the same database; no token needed.

    Reads one message per line (/latest, /classic, /search 对齐, plain text ...) until
    end of input. Type :N to tap button N of the last reply.
    """
    from bot.channels.console import run_console

    with _core(seed=True) as core:
        interactive = sys.stdin.isatty()
        if interactive:
            click.echo("paperbot console: /help lists commands; Ctrl-D quits.")
        status = asyncio.run(
            run_console(core.conversation, sys.stdin, sys.stdout, lang, interactive, admin)
        )
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
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")
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
def import_(paths: tuple[Path, ...]) -> None:
    """Import reviews from column documents or front-matter Markdown files.

    PATHS are files or directories (their *.md and *.txt files). The same review
    (by arXiv id, else slug) is updated, never duplicated. A file with an error is
    refused whole, with its file and line; the others are still imported.
    """
    with _core() as core:
        reports = core.reviews.import_files(list(paths))
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    failed = 0
    for report in reports:
        if report.error:
            failed += 1
            click.echo(f"error: {report.error}", err=True)
            continue
        for outcome in report.outcomes:
            counts[outcome.action] += 1
            review = outcome.review
            click.echo(f"{outcome.action:<9} #{review.id} {review.slug}  {review.title}")
    total = sum(counts.values())
    summary = ", ".join(f"{count} {action}" for action, count in counts.items())
    click.echo(f"{total} reviews: {summary}" + (f"; {failed} file(s) refused" if failed else ""))
    if failed or not reports:
        if not reports:
            click.echo("error: no files to import", err=True)
        sys.exit(1)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write every review to DIRECTORY as front-matter Markdown (<slug>.md).

    The files import back to identical reviews.
    """
    with _core() as core:
        written = core.reviews.export(directory)
    click.echo(f"wrote {len(written)} reviews to {directory}")


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


def main() -> None:
    cli()
