"""The whole deployment under mixed load: nginx + 1 and + 3 replicas on PostgreSQL.

    python bench/deployment_load.py                      # 5,000 reviews, 15 s a configuration
    python bench/deployment_load.py --quick              # a smoke run (seconds, tiny column)

Issue #13, point 7. Seeds a PostgreSQL schema of its own (dropped at the end) with N
published reviews (bench/search_latency.py's synthetic column, as bench/web_throughput.py
builds it) and runs the deployment the fault tests run (tests/support/replicas.py): real
`paperbot run` replicas in Telegram webhook mode, also serving the web archive and WeChat
in safe mode, behind a real nginx with deploy/nginx's site (tests/support/nginx.py); the
fake Bot API and the fake WeChat API (tests/support) answer the replicas' calls.

Three load generators, each a process of its own started together (each prepares its
requests, then all start their clocks at once), send through nginx for a fixed time with
a fixed concurrency:

* webhook updates: POST /telegram/webhook with the secret token header, as Telegram
  does (a chat's next update only after the answer to its previous one), from 50
  chats a connection: /latest, /classic, /search, plain-text searches, /review N, /about;
* web pages: GET /, /r/<slug>, /search?q=… (a few dozen searches, so mostly the cache)
  and /feed.atom in turn (bench/web_throughput.py's generator);
* WeChat callbacks: signed, encrypted safe-mode text callbacks (bench/wechat_callbacks.py's
  generator: search, a numbered choice, 最新, next page, ...).

Before a configuration is measured, each replica answers every page and search of the
load once (warm caches, as in a deployment that has run a while), then the mixed load
runs untimed for --warmup seconds. Printed per kind and in total, for nginx + 1 replica
and nginx + 3 replicas in the same run: requests/s, p50, p99, errors; then the scaling
ratio (3-replica requests/s over 1-replica requests/s). Also, per configuration, the
load average before and after, where the machine's CPU went (replicas, nginx, load
generators, the fakes, the rest: PostgreSQL and anything else running) and requests per
replica CPU-second. The ratio cannot exceed what the cores allow: everything here (the
generators too) shares the machine's CPUs. Not part of the test suite
(tests/test_deployment_load_bench.py only checks that it runs in --quick mode).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.web_throughput import load_average, nginx_binary, percentile  # noqa: E402

DEFAULT_POSTGRES = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TOKEN = "123:LOADBENCH"
SECRET = "loadbench_Secret-13"
WEBHOOK_URL = "https://bot.example.org/telegram/webhook"
SITE_URL = "https://papers.example.org"
#: (row label, what it is); the row label is the first word of the kind's line.
KINDS = {
    "telegram": ("webhook-updates", "POST /telegram/webhook"),
    "web": ("web-pages", "GET /, /r/<slug>, /search?q=…, /feed.atom"),
    "wechat": ("wechat-callbacks", "POST /wechat (safe mode)"),
}
#: One chat's conversation, in turn; {q} and {r} are searches, {n} a review number.
TELEGRAM_SCRIPT = ("/latest", "{q}", "/review {n}", "/search {r}", "/classic", "/about")
CONFIGURATIONS = (1, 3)


# --- the load generators (each a process of its own: --generate KIND) --------------------


async def _ready_then_go() -> None:
    """Say `ready` on stdout and wait for the coordinator's line on stdin: every generator
    prepares its requests first, then all start their clocks together."""
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def telegram_plans(args: argparse.Namespace) -> list[list[bytes]]:
    """Each connection's updates, as JSON bodies: its own chats in turn, each chat's
    updates following TELEGRAM_SCRIPT, update ids unique in the run."""
    from bench.wechat_callbacks import queries
    from tests.support.fake_telegram import make_user, message_update

    searches = queries(args.queries)  # the same searches as the other kinds'
    per_connection = max(
        len(TELEGRAM_SCRIPT), int(args.max_rate * args.duration / args.connections)
    )
    rng = random.Random(args.seed)
    update_id = args.base_id
    plans = []
    for worker in range(args.connections):
        chats = [args.base_id + worker * 1_000 + n for n in range(args.chats)]
        users = [make_user(chat, f"读者{chat}", language_code="zh-hans") for chat in chats]
        plan = []
        for number in range(per_connection):
            user = users[number % len(users)]
            step = TELEGRAM_SCRIPT[(number // len(users) + worker) % len(TELEGRAM_SCRIPT)]
            text = step.format(q=rng.choice(searches), r=rng.choice(searches), n=rng.randint(1, 5))
            update = {"update_id": update_id, **message_update(user, text)}
            update_id += 1
            plan.append(json.dumps(update, ensure_ascii=False).encode())
        plans.append(plan)
    return plans


async def telegram_load(args: argparse.Namespace, start: Callable[[], Awaitable[None]]) -> Any:
    """Each connection posts its updates one after another, as Telegram does per chat."""
    import aiohttp

    plans = telegram_plans(args)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    samples: list[float] = []
    errors = ran_out = 0

    async def worker(session: aiohttp.ClientSession, plan: list[bytes]) -> None:
        nonlocal errors, ran_out
        for body in plan:
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            try:
                async with session.post(args.target, data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            samples.append((time.perf_counter() - started) * 1000)
            errors += not ok
        ran_out += 1

    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        await start()
        started = time.perf_counter()
        deadline = started + args.duration
        await asyncio.gather(*(worker(session, plan) for plan in plans))
        elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "rps": len(samples) / elapsed,
        "p50_ms": percentile(samples, 0.50) if samples else 0.0,
        "p99_ms": percentile(samples, 0.99) if samples else 0.0,
        "requests": len(samples),
        "errors": errors,
        "ran_out": ran_out,
    }


def web_paths(args: argparse.Namespace) -> list[str]:
    """The pages in a shuffled turn: the front page, a few hundred reviews, a few dozen
    searches, the feed (each searched query is cached after its first answer)."""
    from bench.wechat_callbacks import queries

    rng = random.Random(args.seed)
    count = min(200, max(10, args.reviews // 25))  # --quick's 300 reviews: a dozen
    slugs = [f"/r/bench-{rng.randrange(args.reviews)}" for _ in range(count)]
    searches = [f"/search?q={quote(q)}" for q in queries(args.queries)]
    paths = ["/"] * 50 + slugs + searches * 2 + ["/feed.atom"] * 25
    rng.shuffle(paths)
    return paths


async def web_load(args: argparse.Namespace, start: Callable[[], Awaitable[None]]) -> Any:
    from bench.web_throughput import _python_load

    base = args.target.rstrip("/")
    # As long as a webhook update may take (30 s): on a loaded machine a page can wait.
    figures = await _python_load(
        base, args.connections, args.duration, web_paths(args), start, timeout_s=30
    )
    return {**figures, "ran_out": 0}


async def wechat_load(args: argparse.Namespace, start: Callable[[], Awaitable[None]]) -> Any:
    from bench.wechat_callbacks import _load

    options = argparse.Namespace(
        load=args.target,
        queries=args.queries,
        max_rate=args.max_rate,
        duration=args.duration,
        connections=args.connections,
        run=args.run,
        seed=args.seed,
        fresh=args.fresh,
    )
    figures = await _load(options, start)
    return {
        "rps": figures["rate"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "requests": figures["callbacks"],
        "errors": figures["errors"],
        "ran_out": figures["ran_out"],
        "late": figures["late"],
    }


GENERATORS = {"telegram": telegram_load, "web": web_load, "wechat": wechat_load}


def generate(args: argparse.Namespace) -> None:
    """A generator process: prepare, `ready`, wait, load; print its figures as JSON
    (with its own CPU seconds during the load)."""

    cpu_before = 0.0

    async def timed_start() -> None:
        nonlocal cpu_before
        await _ready_then_go()
        cpu_before = own_cpu()

    figures = asyncio.run(GENERATORS[args.generate](args, timed_start))
    print(json.dumps({**figures, "cpu_s": own_cpu() - cpu_before}), flush=True)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the coordinator ------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    ran_out: int
    cpu_s: float
    late: int = 0


def run_generators(
    base: str,
    args: argparse.Namespace,
    seconds: float,
    run: str,
    base_id: int,
    window: Callable[[], object] | None = None,
) -> dict[str, Figures]:
    """The three generators against nginx at `base`, started together; their figures.
    `window` (if any) is called as their clocks start and once they have all ended: the
    CPU figures are taken over the load alone, not the generators' preparation."""
    targets = {
        "telegram": f"{base}/telegram/webhook",
        "web": base,
        "wechat": f"{base}/wechat",
    }
    processes: dict[str, subprocess.Popen[str]] = {}
    for kind, target in targets.items():
        command = [sys.executable, __file__, "--generate", kind, "--target", target]
        command += ["--connections", str(getattr(args, f"{kind}_connections"))]
        command += ["--duration", str(seconds), "--max-rate", str(args.max_rate)]
        command += ["--queries", str(args.queries), "--reviews", str(args.reviews)]
        command += ["--run", run, "--base-id", str(base_id), "--seed", str(args.seed)]
        command += ["--fresh", str(args.fresh)]
        processes[kind] = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    try:
        for kind, process in processes.items():
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != "ready":
                sys.exit(f"the {kind} load generator failed to start (said {line!r})")
        for process in processes.values():
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        if window is not None:
            window()
        outputs = {
            kind: process.communicate(timeout=seconds + 120)[0]
            for kind, process in processes.items()
        }
        if window is not None:
            window()
        figures = {}
        for kind, process in processes.items():
            if process.returncode != 0:
                sys.exit(f"the {kind} load generator exited {process.returncode}")
            figures[kind] = Figures(**json.loads(outputs[kind].strip().splitlines()[-1]))
        return figures
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def process_cpu(pid: int) -> float:
    """A process's CPU seconds so far (user + system, all threads), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """Core-seconds the whole machine spent busy since boot (/proc/stat: all but idle
    and iowait), for the share of the cores a configuration used."""
    fields = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def nginx_pids(root: Path) -> list[int]:
    """nginx's master and its worker (the worker does the proxying)."""
    master = int((root / "nginx.pid").read_text().strip())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *(int(pid) for pid in children)]


def fakes_cpu() -> float:
    """This process's CPU: the fake Bot API and the fake WeChat API run in its threads
    (the coordinator itself only waits meanwhile)."""
    return own_cpu()


def warm_caches(ports: Sequence[int], args: argparse.Namespace) -> None:
    """GET every distinct page of the web load (its searches are the other kinds'
    searches too) once from each replica, on its own port."""
    import httpx

    paths = sorted(set(web_paths(args)))
    for port in ports:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for path in paths:
                status = client.get(path).status_code
                if status != 200:
                    sys.exit(f"GET {path} from the replica on port {port} answered {status}")


@dataclass(frozen=True)
class Configuration:
    replicas: int
    figures: dict[str, Figures]
    lines: list[str]
    replica_cores: float  # the replicas' CPU-seconds a second of the load: their share
    per_cpu: float  # requests per replica CPU-second


def total(figures: dict[str, Figures]) -> tuple[float, int, int]:
    return (
        sum(f.rps for f in figures.values()),
        sum(f.requests for f in figures.values()),
        sum(f.errors for f in figures.values()),
    )


def measure(
    replicas: int, url: str, args: argparse.Namespace, work: Path, fake: Any, wechat_api: Any
) -> Configuration:
    from bench.wechat_callbacks import AES_KEY, APP_ID, APP_SECRET
    from bench.wechat_callbacks import TOKEN as WECHAT_TOKEN
    from tests.support.replicas import webhook_replicas

    root = work / f"replicas-{replicas}"
    root.mkdir(parents=True, exist_ok=True)
    title = f"nginx + {replicas} replica{'s' if replicas > 1 else ''}"
    lines = [f"== {title} =="]
    with webhook_replicas(
        root,
        url,
        fake,
        count=replicas,
        token=TOKEN,
        secret=SECRET,
        public_url=WEBHOOK_URL,
        health_timeout=180,
        LOG_LEVEL="WARNING",
        PUBLIC_URL=SITE_URL,
        WECHAT_APP_ID=APP_ID,
        WECHAT_APP_SECRET=APP_SECRET,
        WECHAT_TOKEN=WECHAT_TOKEN,
        WECHAT_ENCODING_AES_KEY=AES_KEY,
        WECHAT_API_BASE_URL=wechat_api.base_url,
    ) as deployment:
        # Chats, update ids and followers fresh in every run (WeChat dedupes MsgIds).
        base_id = 10_000_000 * (2 * replicas)
        # Untimed: what each replica pays once (jieba's dictionary, compiled statements,
        # connections, the page and search caches) is not a rate. Every replica first
        # answers each page and search of the run once, directly: a deployment that has
        # run for a while has them cached, and three replicas would otherwise spend the
        # measured time filling three caches where one replica fills one.
        warm_caches(deployment.ports, args)
        if args.warmup > 0:
            run_generators(deployment.base, args, args.warmup, f"w{replicas}", base_id)
        fake.reset_calls()
        late_before = len(wechat_api.state.customer_messages)
        pids = {
            "replicas": [process.pid for process in deployment.processes],
            "nginx": nginx_pids(root / "nginx"),
        }
        snapshots: list[dict[str, float]] = []

        def snapshot() -> None:
            taken = {name: sum(process_cpu(p) for p in group) for name, group in pids.items()}
            taken.update(fakes=fakes_cpu(), busy=machine_busy(), clock=time.monotonic())
            snapshots.append(taken)

        lines.append(f"load average before: {load_average()}")
        figures = run_generators(
            deployment.base, args, args.duration, f"m{replicas}", base_id + 10_000_000, snapshot
        )
        lines.append(f"load average after: {load_average()}")
        cpu = {name: snapshots[1][name] - snapshots[0][name] for name in snapshots[0]}
        replies = sum(1 for call in fake.calls if call.method == "sendMessage" and call.ok)
        rejected = len(fake.rejected_calls())
        late_sent = len(wechat_api.state.customer_messages) - late_before
        alive = sum(process.poll() is None for process in deployment.processes)
    lines.append(
        f"{'kind':<17} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}"
    )
    for kind, (label, _what) in KINDS.items():
        f = figures[kind]
        lines.append(
            f"{label:<17} {f.rps:8.0f} {f.p50_ms:8.2f} {f.p99_ms:8.2f} {f.requests:9d} "
            f"{f.errors:7d}"
        )
    rps, requests, errors = total(figures)
    lines.append(f"{'total':<17} {rps:8.0f} {'':>8} {'':>8} {requests:9d} {errors:7d}")
    lines.append(
        f"fake Bot API: {replies} messages sent for {figures['telegram'].requests} updates, "
        f"{rejected} calls rejected; WeChat: {figures['wechat'].late} late replies "
        f"({late_sent} customer-service messages sent by then); replicas alive at the end: "
        f"{alive} of {replicas}; generators that ran out of requests: "
        f"{sum(f.ran_out for f in figures.values())}"
    )
    generators = sum(f.cpu_s for f in figures.values())
    elapsed, busy, fakes = cpu["clock"], cpu["busy"], cpu["fakes"]
    accounted = cpu["replicas"] + cpu["nginx"] + generators + fakes
    cores = os.cpu_count() or 1
    lines.append(
        f"CPU over {elapsed:.1f} s: machine busy {busy:.1f} of {cores * elapsed:.1f} core-s "
        f"({100 * busy / (cores * elapsed):.0f} %); replicas {cpu['replicas']:.1f}, nginx "
        f"{cpu['nginx']:.1f}, load generators {generators:.1f}, fakes {fakes:.1f}, rest "
        f"(PostgreSQL, other processes) {max(0.0, busy - accounted):.1f}"
    )
    # What the replicas' code costs, whatever share of the cores they got.
    per_cpu = requests / cpu["replicas"] if cpu["replicas"] > 0 else 0.0
    lines.append(f"requests per replica CPU-second: {per_cpu:.0f}")
    return Configuration(replicas, figures, lines, cpu["replicas"] / elapsed, per_cpu)


@contextmanager
def seeded_store(args: argparse.Namespace) -> Iterator[str]:
    """A PostgreSQL schema of its own with the published column; dropped at the end."""
    from bench.search_latency import postgres_store
    from bench.web_throughput import populate_published

    with postgres_store(args.postgres_url) as url:
        populate_published(url, args.reviews)
        yield url


def run(args: argparse.Namespace, work: Path) -> list[str]:
    """Both configurations, one after the other on the same store; each one's lines are
    printed as it ends, the scaling lines returned."""
    from bench.wechat_callbacks import APP_ID, APP_SECRET
    from tests.support.fake_telegram import FakeTelegramServer
    from tests.support.fake_wechat import FakeWeChatServer

    cores = os.cpu_count() or 1
    lines = [
        f"deployment load: nginx (deploy/nginx) + replicas of `paperbot run` on PostgreSQL, "
        f"{args.reviews} published reviews, {args.duration:g} s a configuration "
        f"(after {args.warmup:g} s of warm-up), {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"CPUs: {cores}; concurrency: webhook {args.telegram_connections} chats at a time, "
        f"web {args.web_connections} connections, WeChat {args.wechat_connections} "
        f"connections; load: aiohttp, one process per kind",
    ]
    lines += [f"  {label:<17} {what}" for label, what in KINDS.values()]
    print("\n".join(lines), flush=True)
    results: list[Configuration] = []
    with (
        seeded_store(args) as url,
        FakeTelegramServer() as fake,
        FakeWeChatServer(APP_ID, APP_SECRET) as wechat_api,
    ):
        for replicas in CONFIGURATIONS:
            configuration = measure(replicas, url, args, work, fake, wechat_api)
            results.append(configuration)
            print("\n".join(configuration.lines), flush=True)
    one, three = results
    lines_after = [f"scaling ({three.replicas} replicas / {one.replicas}, req/s):"]
    for kind, (label, _what) in KINDS.items():
        before, after = one.figures[kind].rps, three.figures[kind].rps
        lines_after.append(f"{label:<17} {after / before if before else 0.0:6.2f}")
    before, after = total(one.figures)[0], total(three.figures)[0]
    lines_after.append(f"{'total':<17} {after / before if before else 0.0:6.2f}")
    lines_after.append(
        f"replicas' share of the CPU: {one.replica_cores:.2f} cores with {one.replicas}, "
        f"{three.replica_cores:.2f} with {three.replicas}; requests per replica CPU-second: "
        f"{one.per_cpu:.0f} and {three.per_cpu:.0f}"
    )
    lines_after.append(
        f"the ratio is bounded by the cores: {cores} here, shared by the replicas, nginx, "
        f"PostgreSQL, the fakes and the load generators"
    )
    return ["--", *lines_after]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--reviews", type=int, default=5_000)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before it")
    parser.add_argument("--telegram-connections", type=int, default=16)
    parser.add_argument("--web-connections", type=int, default=32)
    parser.add_argument("--wechat-connections", type=int, default=16)
    parser.add_argument("--queries", type=int, default=60, help="distinct searches")
    parser.add_argument(
        "--max-rate",
        type=int,
        default=2_000,
        help="requests/s a kind is prepared for (beyond it a connection runs out, and says so)",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--fresh",
        type=float,
        default=0.3,
        help="share of WeChat searches asked once in the run (as bench/wechat_callbacks.py)",
    )
    parser.add_argument("--work-dir", type=Path, help="for the replicas' logs (default: temp)")
    # Internal mode: the load generators this script starts.
    parser.add_argument("--generate", choices=sorted(GENERATORS), help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--chats", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--run", default="m", help=argparse.SUPPRESS)
    parser.add_argument("--base-id", type=int, default=10_000_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.generate is not None:
        generate(args)
        return 0
    if args.quick:
        args.reviews, args.duration, args.warmup = min(args.reviews, 300), 2.0, 1.0
        args.telegram_connections = args.web_connections = args.wechat_connections = 4
        args.queries, args.max_rate = 20, 400
    if nginx_binary() is None:
        sys.exit("nginx is not installed (apt-get install nginx-light)")
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        print("\n".join(run(args, args.work_dir)))
        return 0
    with tempfile.TemporaryDirectory(prefix="paperbot-deployment-bench-") as work:
        print("\n".join(run(args, Path(work))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
