"""WeChat callback throughput: signed, encrypted callbacks/s and p50/p99 latency of
`paperbot run`'s /wechat in safe mode.

    python bench/wechat_callbacks.py                     # 10,000 reviews, 32 connections
    python bench/wechat_callbacks.py --reviews 40 --duration 0.5 --connections 4
    python bench/wechat_callbacks.py --workers 2         # `paperbot run --workers 2`

Builds a SQLite store of N published reviews (bench/search_latency.py's synthetic column,
as bench/web_throughput.py builds it), starts the fake WeChat API (tests/support) for the
access token and the customer-service messages of late replies, and `paperbot run` with
the WeChat channel in safe mode pointed at it. A load generator in a process of its own
posts text callbacks the way WeChat does (signature and msg_signature over the AES
ciphertext, fresh timestamps, unique MsgIds) with N concurrent connections. Each
connection is a series of followers (OpenIDs), each follower one conversation in order: a
search, `1` (the first result, a news card), `最新`, `3`, another search, `下一页`; so the
mix is 1/3 searches, 1/2 numbered choices, 1/6 latest, from thousands of followers. The
callbacks are built and encrypted before the clock starts, so the generator's own work
during the run is HTTP only.

The searches are a mix like real readers': most ask what others ask (`--queries`
popular searches, drawn with a Zipf skew: 对齐 comes back far more often than 束搜索),
and a share (`--fresh`, default 30 %) asks something no one asked before in the run (two
of the column's terms, each such search sent once, different in the warm-up
and the measured run), so that share is ranked from the index every time, whatever the
server remembers; its `下一页` is the next page of a search never ranked before too.
Nothing the server caches is made easier for it: it only sees distinct texts.

A callback counts when the answer is HTTP 200 with an encrypted passive reply; `success`
(the reply missed WECHAT_REPLY_SECONDS and goes as a customer-service message) counts as
late, anything else as an error. The first answer of every connection is decrypted and
checked. Targets (issue #11): >= 500 callbacks/s, p99 <= 100 ms, far inside WeChat's 5 s.
The load average is printed before and after: on a shared machine a figure is only as good
as the quiet it was measured in. Not part of the test suite
(tests/test_wechat_callbacks_bench.py only checks that it runs).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.web_throughput import (  # noqa: E402
    build_store,
    free_port,
    load_average,
    percentile,
    server,
    verdict,
)

PAPERBOT = Path(sys.executable).parent / "paperbot"
APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "bench-app-secret"
TOKEN = "benchToken2026"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_paperbot_bench"
PUBLIC_URL = "https://papers.example.org"
CALLBACKS_PER_S, P99_MS = 500, 100.0
#: The open-loop generator's connection cap: far above what 500/s needs at 100 ms.
OPEN_LOOP_CONNECTIONS = 256
#: One follower's conversation: {q} and {r} are two searches.
SCRIPT = ("{q}", "1", "最新", "3", "{r}", "下一页")


# --- callbacks ---------------------------------------------------------------------------


def queries(count: int, seed: int = 11) -> list[str]:
    """Searches readers type: one or two of the synthetic column's terms (Chinese and
    English), `count` distinct ones, drawn with a skew (popular terms come back)."""
    from bench.search_latency import EN_TERMS, ZH_TERMS

    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        terms = rng.sample(ZH_TERMS, 1) if rng.random() < 0.6 else rng.sample(EN_TERMS, 1)
        if rng.random() < 0.3:
            terms.append(rng.choice(ZH_TERMS))
        found[" ".join(terms)] = None
    return list(found)


def fresh_queries(run: str, seed: int, exclude: Sequence[str]) -> list[str]:
    """Searches no reader of the run asked before (`run` gives the warm-up and the
    measured run different ones): two of the column's terms (about 18,000 such pairs,
    a Chinese one second), in a shuffled order, none of them a popular search."""
    from bench.search_latency import EN_TERMS, ZH_TERMS

    rng = random.Random(f"{seed}:{run}")
    terms = ZH_TERMS + EN_TERMS
    taken = set(exclude)
    found: dict[str, None] = {}
    pairs = [f"{a} {b}" for a in terms for b in ZH_TERMS if a != b]
    rng.shuffle(pairs)
    for query in pairs:
        if query not in taken:
            found[query] = None
    return list(found)


def openid(worker: int, number: int, run: str) -> str:
    """A 28-character OpenID like WeChat's, distinct per run, connection and follower."""
    return f"o{run}{worker:04d}{number:06d}".ljust(28, "x")[:28]


@dataclass(frozen=True)
class Prepared:
    url: str
    body: bytes


class CallbackMaker:
    """Signed, encrypted text callbacks, as WeChat posts them."""

    def __init__(self, base_url: str) -> None:
        from bot.channels.wechat.crypto import MessageCrypto

        self.url = base_url
        self.crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)
        self._msg_ids = iter(range(secrets.randbelow(2**40) << 20, 2**63))

    def text(self, sender: str, content: str) -> Prepared:
        from bot.channels.wechat.crypto import sha1_signature
        from bot.channels.wechat.messages import cdata

        stamp = str(int(time.time()))
        nonce = str(secrets.randbelow(10**10))
        xml = (
            f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName>"
            f"<FromUserName>{cdata(sender)}</FromUserName><CreateTime>{stamp}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content>{cdata(content)}</Content>"
            f"<MsgId>{next(self._msg_ids)}</MsgId></xml>"
        )
        message = self.crypto.encrypt(xml, timestamp=stamp, nonce=nonce)
        query = {
            "signature": sha1_signature(TOKEN, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "openid": sender,
            "encrypt_type": "aes",
            "msg_signature": sha1_signature(TOKEN, stamp, nonce, message.encrypt),
        }
        body = (
            f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName>"
            f"<Encrypt>{cdata(message.encrypt)}</Encrypt></xml>"
        ).encode()
        return Prepared(f"{self.url}?{urlencode(query)}", body)

    def reply_content(self, body: str) -> str:
        """A passive reply's decrypted text (or news title); raises if it is not one."""
        from defusedxml.ElementTree import fromstring

        root = fromstring(body.encode())
        encrypt = root.findtext("Encrypt") or ""
        reply = fromstring(self.crypto.decrypt_unsigned(encrypt).encode())
        return reply.findtext("Content") or reply.findtext("Articles/item/Title") or ""


def conversations(
    maker: CallbackMaker,
    worker: int,
    count: int,
    searches: list[str],
    fresh: Iterator[str],
    share: float,
    run: str,
    seed: int,
) -> list[Prepared]:
    """`count` callbacks for one connection: its followers' conversations, in order.
    A search is a fresh one (`fresh`, shared by all connections, each used once) with
    probability `share`, else a popular one with a Zipf skew (the n-th most popular
    drawn in proportion to 1/n)."""
    rng = random.Random(f"{seed}:{run}:{worker}")
    weights = list(itertools.accumulate(1 / rank for rank in range(1, len(searches) + 1)))

    def search() -> str:
        if rng.random() < share:
            return next(fresh)
        return rng.choices(searches, cum_weights=weights)[0]

    prepared: list[Prepared] = []
    follower = 0
    while len(prepared) < count:
        sender = openid(worker, follower, run)
        follower += 1
        first, second = search(), search()
        for step in SCRIPT:
            prepared.append(maker.text(sender, step.format(q=first, r=second)))
    return prepared[:count]


# --- the load generator (a process of its own) ------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The answer to one callback: how long it took and what it was (`kind`)."""

    ms: float
    body: str
    #: "reply" (an encrypted passive reply), "late" (`success`: sent later as a
    #: customer-service message) or "error" (anything else).
    kind: str


async def post(session: aiohttp.ClientSession, prepared: Prepared) -> Answer | None:
    """One callback as WeChat posts it; None if the connection failed or timed out."""
    import aiohttp

    started = time.perf_counter()
    try:
        async with session.post(
            prepared.url, data=prepared.body, headers={"Content-Type": "text/xml"}
        ) as response:
            body, status = await response.text(), response.status
    except (aiohttp.ClientError, TimeoutError):
        return None
    kind = "error" if status != 200 or not body else "late" if body == "success" else "reply"
    return Answer((time.perf_counter() - started) * 1000, body, kind)


def figures(samples: list[float], seconds: float, **counts: int) -> dict[str, Any]:
    """What a generator reports: rate, p50/p99 of its latencies (ms) and its counts."""
    samples.sort()
    return {
        "rate": len(samples) / seconds,
        "p50_ms": percentile(samples, 0.50) if samples else 0.0,
        "p99_ms": percentile(samples, 0.99) if samples else 0.0,
        "callbacks": len(samples),
        **counts,
    }


async def _load(
    args: argparse.Namespace, start: Callable[[], Awaitable[None]] | None = None
) -> dict[str, Any]:
    """The load of `args`; the clock starts after the callbacks are prepared and `start`
    (if any) returned, so several generators can start together."""
    import aiohttp

    maker = CallbackMaker(args.load)
    searches = queries(args.queries)
    fresh = iter(fresh_queries(args.run, args.seed, searches))
    per_connection = max(6, int(args.max_rate * args.duration / args.connections) + 6)
    plans = [
        conversations(
            maker, worker, per_connection, searches, fresh, args.fresh, args.run, args.seed
        )
        for worker in range(args.connections)
    ]
    samples: list[float] = []
    late = errors = 0
    checked: list[str] = []
    ran_out = 0

    async def worker(session: aiohttp.ClientSession, plan: list[Prepared]) -> None:
        nonlocal late, errors, ran_out
        for number, prepared in enumerate(plan):
            if time.perf_counter() >= deadline:
                return
            answer = await post(session, prepared)
            if answer is None:
                errors += 1
                continue
            samples.append(answer.ms)
            errors += answer.kind == "error"
            late += answer.kind == "late"
            if answer.kind == "reply" and number == 0:
                content = maker.reply_content(answer.body)
                if not content:
                    errors += 1
                checked.append(content[:40])
        ran_out += 1

    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=10)
    if start is not None:
        await start()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + args.duration
        await asyncio.gather(*(worker(session, plan) for plan in plans))
        elapsed = time.perf_counter() - started
    return figures(
        samples, elapsed, late=late, errors=errors, checked=len(checked), ran_out=ran_out
    )


async def _open_load(args: argparse.Namespace) -> dict[str, Any]:
    """Open-loop load: callbacks arrive at `args.rate` a second whatever the server's
    pace, the way WeChat's followers write (they do not wait for each other). Followers
    start at rate/6 a second, each its conversation of six messages `args.think`
    seconds apart (a follower still waits for the reply before the next message, as
    a person does; one that has to wait is counted as `behind`). The first 5 × think
    seconds fill the pipeline and are not measured: in the measured window the offered
    rate is `args.rate`. Latency here is the service's, not a queue of closed-loop
    connections (where p50 = connections / throughput whatever the code does)."""
    import aiohttp

    maker = CallbackMaker(args.load)
    searches = queries(args.queries)
    fresh = iter(fresh_queries(args.run, args.seed, searches))
    ramp = 5 * args.think
    spacing = len(SCRIPT) / args.rate  # between two followers' starts
    followers = int((ramp + args.duration) / spacing) + 1
    plans = conversations(
        maker, 0, followers * len(SCRIPT), searches, fresh, args.fresh, args.run, args.seed
    )
    samples: list[float] = []
    late = errors = behind = 0

    async def follower(session: aiohttp.ClientSession, number: int) -> None:
        nonlocal late, errors, behind
        messages = plans[number * len(SCRIPT) : (number + 1) * len(SCRIPT)]
        begins = origin + number * spacing
        for step, prepared in enumerate(messages):
            at = begins + step * args.think
            now = time.perf_counter()
            if at >= window_end:
                return
            if at > now:
                await asyncio.sleep(at - now)
            elif now - at > 0.001:
                behind += 1
            counted = window_start <= time.perf_counter() < window_end
            answer = await post(session, prepared)
            if not counted:
                continue
            if answer is None:
                errors += 1
                continue
            samples.append(answer.ms)
            errors += answer.kind == "error"
            late += answer.kind == "late"

    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        origin = time.perf_counter() + 0.2
        window_start, window_end = origin + ramp, origin + ramp + args.duration
        await asyncio.gather(*(follower(session, number) for number in range(followers)))
    return figures(samples, args.duration, late=late, errors=errors, checked=0, ran_out=behind)


@dataclass(frozen=True)
class Load:
    rate: float
    p50_ms: float
    p99_ms: float
    callbacks: int
    late: int
    errors: int
    checked: int
    ran_out: int
    #: The load generator's own CPU (preparing the callbacks included): on a machine with
    #: few cores, what it takes is not the server's.
    cpu_seconds: float = 0.0


def load(url: str, args: argparse.Namespace, seconds: float, run: str, rate: float = 0.0) -> Load:
    """The generator's figures: closed loop (`args.connections` connections, each
    sending as soon as it has its answer), or open loop at `rate` callbacks/s."""
    command = [sys.executable, __file__, "--load", url, "--run", run]
    connections = OPEN_LOOP_CONNECTIONS if rate else args.connections
    command += ["--connections", str(connections), "--duration", str(seconds)]
    command += ["--rate", str(rate), "--think", str(args.think)]
    command += ["--queries", str(args.queries), "--max-rate", str(args.max_rate)]
    command += ["--seed", str(args.seed), "--fresh", str(args.fresh)]
    before = _children_cpu()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"the load generator failed:\n{result.stderr[-3000:]}")
    return Load(**json.loads(result.stdout), cpu_seconds=_children_cpu() - before)


def _children_cpu() -> float:
    """CPU time of this process's ended, reaped children: the load generators (the
    server, still running, is not among them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the server ---------------------------------------------------------------------------


def paperbot_run(
    work: Path, env: dict[str, str], probe: str, workers: int = 1
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """`paperbot run --workers N` with `env`, once /healthz answers; stopped with SIGTERM."""
    command = [str(PAPERBOT), "run", "--workers", str(workers)]
    return server(command, probe, work, "paperbot-run", **env)


def wait_for_workers(probe: str, workers: int, timeout: float = 120) -> None:
    """Until /healthz has answered from `workers` different pids (every worker serves:
    /healthz answers once the first does)."""
    import httpx

    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers:
        if time.monotonic() > deadline:
            sys.exit(f"only {len(seen)} of {workers} workers answered within {timeout:.0f} s")
        try:
            # A new connection each time: the kernel picks a worker per connection.
            seen.add(int(httpx.get(probe, timeout=5).json()["pid"]))
        except (httpx.TransportError, KeyError, ValueError):
            time.sleep(0.2)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """The CPU time so far (user + system, all threads) of the process and of all its
    descendants, live (from their /proc/PID/stat) or ended and reaped (its cutime and
    cstime): `paperbot run --workers N` is a supervisor and N workers, and the figure is
    theirs together. On a shared machine, callbacks per CPU-second say what the code
    costs, whatever share of the cores it got."""
    clock = os.sysconf("SC_CLK_TCK")
    try:
        fields = _stat(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / clock + sum(cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:  # field 4: the parent's pid
                    children.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
    return children


# --- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> list[str]:
    from tests.support.fake_wechat import FakeWeChatServer

    if args.store is not None:
        # A store built by an earlier run (its copy: the run writes to it).
        shutil.copyfile(args.store, work / "wechat.db")
        url = f"sqlite:///{work / 'wechat.db'}"
    else:
        url = build_store(work / "wechat.db", args.reviews)
    port = free_port()
    lines = [
        f"WeChat callbacks (safe mode), {args.reviews} published reviews, "
        f"{args.connections} connections, {args.duration:g} s, "
        f"`paperbot run --workers {args.workers}`, "
        f"{args.queries} popular searches (Zipf) + {args.fresh:.0%} of searches fresh, "
        f"{dt.date.today().isoformat()}",
        "mix per follower: search, 1, 最新, 3, search, 下一页 (load: aiohttp, own process)",
    ]
    with FakeWeChatServer(APP_ID, APP_SECRET) as api:
        env = {
            "DATABASE_URL": url,
            "DATA_DIR": str(work / "data"),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "WECHAT_API_BASE_URL": api.base_url,
            "PUBLIC_URL": PUBLIC_URL,
        }
        probe = f"http://127.0.0.1:{port}/healthz"
        with paperbot_run(work, env, probe, args.workers) as process:
            wait_for_workers(probe, args.workers)
            target = f"http://127.0.0.1:{port}/wechat"
            if args.warmup > 0:
                load(target, args, args.warmup, "w")
            lines.append(f"load average before: {load_average()}")
            cpu_before = cpu_seconds(process.pid)
            measured = load(target, args, args.duration, "m")
            # Includes the idle second or so while the generator prepares its callbacks.
            cpu = cpu_seconds(process.pid) - cpu_before
            lines.append(f"load average after: {load_average()}")
            offered = load(target, args, args.duration, "o", args.rate) if args.rate else None
            if offered is not None:
                lines.append(f"load average after the open-loop run: {load_average()}")
        late_sent = len(api.state.customer_messages)
    lines.append(
        f"{'callbacks/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'callbacks':>9} {'late':>5} "
        f"{'errors':>6}"
    )
    lines.append(
        f"{measured.rate:11.0f} {measured.p50_ms:8.2f} {measured.p99_ms:8.2f} "
        f"{measured.callbacks:9d} {measured.late:5d} {measured.errors:6d}"
    )
    lines.append(
        f"replies checked (decrypted): {measured.checked}; late replies sent as "
        f"customer-service messages: {late_sent}; connections that ran out of callbacks: "
        f"{measured.ran_out}"
    )
    per_cpu = measured.callbacks / cpu if cpu > 0 else 0.0
    lines.append(
        f"paperbot run ({_count_workers(args.workers)}) used {cpu:.2f} CPU-s for them: "
        f"{per_cpu:.0f} callbacks per CPU-second "
        f"({1000 / per_cpu if per_cpu else 0:.2f} ms of CPU a callback)"
    )
    lines.append(
        f"the load generator used {measured.cpu_seconds:.2f} CPU-s (its preparation included)"
    )
    lines.append(
        f"targets: >= {CALLBACKS_PER_S} callbacks/s (closed loop, {args.connections} "
        f"connections), p99 <= {P99_MS:g} ms (open loop, {CALLBACKS_PER_S} callbacks/s offered)"
    )
    lines.append(f"callbacks/s: {verdict(measured.rate >= CALLBACKS_PER_S)} ({measured.rate:.0f})")
    if offered is None:
        return lines
    lines.append(
        f"open loop: {args.rate:g} callbacks/s offered (followers' messages {args.think:g} s "
        f"apart), {args.duration:g} s measured after a {5 * args.think:g}-s ramp"
    )
    lines.append(
        f"{'callbacks/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'callbacks':>9} {'late':>5} "
        f"{'errors':>6} {'behind':>6}"
    )
    lines.append(
        f"{offered.rate:11.0f} {offered.p50_ms:8.2f} {offered.p99_ms:8.2f} "
        f"{offered.callbacks:9d} {offered.late:5d} {offered.errors:6d} {offered.ran_out:6d}"
    )
    kept_up = offered.rate >= 0.98 * args.rate and offered.errors == 0
    below = args.rate < CALLBACKS_PER_S
    met = kept_up and offered.p99_ms <= P99_MS and not below
    notes = [] if kept_up else ["did not keep up with the offered rate"]
    notes += [f"offered less than the {CALLBACKS_PER_S}/s of the target"] if below else []
    lines.append(
        f"p99 at {args.rate:g}/s offered: {verdict(met)} "
        f"({'; '.join([f'{offered.p99_ms:.1f} ms', *notes])})"
    )
    return lines


def _count_workers(workers: int) -> str:
    return "one process" if workers == 1 else f"a supervisor and {workers} workers"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reviews", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before it")
    parser.add_argument("--queries", type=int, default=200, help="popular searches")
    parser.add_argument(
        "--fresh",
        type=float,
        default=0.3,
        help="share of searches asked once in the run (ranked from the index every time)",
    )
    parser.add_argument(
        "--max-rate",
        type=int,
        default=3_000,
        help="callbacks/s prepared for (beyond it a connection runs out and says so)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="`paperbot run --workers N`: N processes on the port (CPU summed over them)",
    )
    parser.add_argument("--work-dir", type=Path, help="for the store and logs (default: temp)")
    parser.add_argument(
        "--store",
        type=Path,
        help="copy this SQLite store (of --reviews reviews) instead of building one",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=float(CALLBACKS_PER_S),
        help="offered callbacks/s of the open-loop run that measures latency (0: skip it)",
    )
    parser.add_argument(
        "--think", type=float, default=0.5, help="open loop: seconds between a follower's messages"
    )
    # Internal mode: the load generator this script starts.
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--run", default="m", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.load is not None:
        print(json.dumps(asyncio.run(_open_load(args) if args.rate else _load(args))))
        return 0
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="paperbot-wechat-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print("\n".join(run(args, work)))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
