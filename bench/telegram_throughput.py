"""Commands answered per second through the fake Bot API server (real HTTP, real PTB).

Pushes N updates from many readers (/latest, /classic, searches, /review) at a bot on
a seeded SQLite store, and times until every one is answered (after an untimed round of
one update of each kind, for both bots). As a baseline in the same
run, a bare python-telegram-bot echo bot on the same aiohttp transport answers the same
updates: the ratio is what the core (database, search, rendering) costs on top of PTB
and HTTP.

    python bench/telegram_throughput.py [--updates 2000] [--readers 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from remote_server import RemoteServer  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.app import build_core  # noqa: E402
from bot.channels.telegram.app import build_application  # noqa: E402
from bot.channels.telegram.http import AiohttpRequest  # noqa: E402
from bot.settings import load_settings  # noqa: E402

TOKEN = "123:BENCH"
TEXTS = ["/latest", "/classic", "/search 对齐", "mamba", "缩放定律", "/review 1", "/about", "RLHF"]


def cpu_seconds() -> float:
    """This process's CPU (user + system): the bot's own cost, which the machine's load
    changes far less than the rate (the fake server runs in a process of its own)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


async def drive(
    server: RemoteServer,
    application: Application,
    updates: int,
    readers: int,  # type: ignore[type-arg]
) -> tuple[float, float]:
    """Push the updates; return the seconds until the bot sent its replies and the
    bot's CPU seconds meanwhile (not the warm-up's: jieba's dictionary alone is a
    second of CPU, half a millisecond per update of a 2,000 run)."""
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        # Untimed warm-up, one update of each kind: what a process pays once (jieba's
        # dictionary, SQLAlchemy's compiled statements, connections) is not a rate.
        server.ask("push_texts", (TEXTS, len(TEXTS)))
        while server.ask("sent") < len(TEXTS):
            await asyncio.sleep(0.05)
        server.ask("reset")
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        server.ask("push_texts", ([TEXTS[n % len(TEXTS)] for n in range(updates)], readers))
        deadline = started + 600
        # Every one of these commands answers with exactly one message.
        while server.ask("sent") < updates and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds() - cpu_before
        await application.updater.stop()
        await application.stop()
    rejected = server.ask("rejected")
    if rejected:
        raise SystemExit(f"fake server rejected {len(rejected)} calls: {rejected[0]}")
    return elapsed, cpu


def echo_application(server: RemoteServer, concurrency: int) -> Application:  # type: ignore[type-arg]
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("ok")

    # paperbot's own transport (aiohttp) for both the calls and getUpdates, as in
    # build_application: the ratio is then the core's cost, not httpx's.
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.base_url)
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .concurrent_updates(concurrency)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


async def measure(
    label: str,
    build: Callable[[RemoteServer], Application],
    updates: int,
    readers: int,  # type: ignore[type-arg]
) -> float:
    server = RemoteServer()
    try:
        seconds, cpu = await drive(server, build(server), updates, readers)
    finally:
        server.close()
    rate = updates / seconds
    print(
        f"{label:<34} {updates} updates in {seconds:6.2f} s = {rate:7.0f} updates/s; "
        f"{1000 * cpu / updates:.2f} ms of the bot's CPU per update"
    )
    return rate


async def main(arguments: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:

        def paperbot(server: RemoteServer) -> Application:  # type: ignore[type-arg]
            settings = load_settings(
                _env_file=None,
                database_url=f"sqlite:///{directory}/bench.db",
                telegram_bot_token=TOKEN,
                telegram_api_base_url=server.base_url,
                telegram_concurrent_updates=arguments.concurrency,
            )
            return build_application(build_core(settings))

        print(
            f"{arguments.updates} updates from {arguments.readers} readers, "
            f"concurrency {arguments.concurrency}; {load()}"
        )
        baseline = await measure(
            "baseline: bare PTB echo bot",
            lambda server: echo_application(server, arguments.concurrency),
            arguments.updates,
            arguments.readers,
        )
        ours = await measure(
            "paperbot (core + SQLite + HTML)", paperbot, arguments.updates, arguments.readers
        )
        print(f"paperbot / bare PTB echo bot (same transport): {ours / baseline:.2f}; {load()}")
        print(f"target >= 500 updates/s: {'met' if ours >= 500 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
