"""Web archive throughput: requests/s and p50/p99 latency of `paperbot run`'s pages.

    python bench/web_throughput.py                   # 10,000 reviews, 64 connections
    python bench/web_throughput.py --reviews 50 --duration 1 --loader python

Builds a SQLite store of N published reviews (the synthetic column of
bench/search_latency.py, bulk-inserted and bulk-indexed), starts `paperbot run` on it (no
Telegram token) and loads `/`, `/r/<slug>`, `/search?q=对齐` and `/feed.atom` with 64
concurrent connections, then 20,000 distinct searches (none repeated, so each is a real
search, not a cached page). The baselines, in the same run and on the same machine: the
very bytes each URL answered, written to files and served by Debian's nginx (one worker,
as `paperbot run` is one process) and by a bare aiohttp static handler in a process of
its own (`--static`: both by default when nginx is installed, else aiohttp; or one of
them); the ratio against each is printed. Load comes from `wrk` (Debian's package) when
it is installed, else from an aiohttp load generator in a separate process (which, being
Python, may itself be the limit: it is named).

Targets (issue #10): cached pages >= 2,000 req/s and >= 0.3 of the static baseline, search
>= 300 req/s, p99 <= 50 ms. The load average is printed before and after: on a shared
machine the figures are only as good as the quiet they were measured in. Not part of the
test suite (tests/test_web_throughput_bench.py only checks that it runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import socket
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
# The store's modules (SQLAlchemy, the core) are imported where the store is built: the
# load generator and the static server run this file too, and must start quickly.

PAPERBOT = Path(sys.executable).parent / "paperbot"
QUERY = "对齐"
#: (label, path, is a cached page): the search page runs a search per request.
ENDPOINTS = [
    ("/", "/", True),
    ("/r/<slug>", "/r/{slug}", True),
    (f"/search?q={QUERY}", f"/search?q={quote(QUERY)}", False),
    ("/feed.atom", "/feed.atom", True),
]
CACHED_RPS, CACHED_RATIO, SEARCH_RPS, P99_MS = 2_000, 0.3, 300, 50.0


# --- the store ---------------------------------------------------------------------------


def populate_published(url: str, reviews: int) -> None:
    """bench/search_latency.py's synthetic reviews, all published (it drafts 3 %), a
    tenth of them in 经典论文回顾 so the front page has both sections, into the store at
    `url` (SQLite here; PostgreSQL for bench/deployment_load.py)."""
    from bench.search_latency import Generator, populate
    from bot.db.engine import make_engine

    class PublishedColumn(Generator):
        def review(self, n: int, now: dt.datetime) -> dict[str, object]:
            row = super().review(n, now)
            row["status"] = "published"
            row["section"] = "classic" if n % 10 == 9 else "latest"
            return row

    engine = make_engine(url)
    try:
        insert_s, index_s = populate(engine, reviews, PublishedColumn())
    finally:
        engine.dispose()
    print(f"{reviews} reviews inserted in {insert_s:.1f} s, indexed in {index_s:.1f} s")


def build_store(path: Path, reviews: int) -> str:
    """A SQLite store at `path` of `reviews` published reviews (populate_published)."""
    url = f"sqlite:///{path}"
    populate_published(url, reviews)
    return url


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url}: the server exited {process.returncode}\n{log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {timeout} s")


@contextmanager
def server(
    command: list[str], probe: str, work: Path, name: str, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` with `env` over a clean environment (no channel or store settings of
    the caller's), once `probe` answers; stopped with SIGTERM (killed after a minute)."""
    log = work / f"{name}.log"
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "ADMIN_", "PUBLIC_", "WECHAT_"))
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=work, env={**clean, **env}, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for(probe, process, log)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def paperbot(work: Path, url: str, port: int) -> Any:
    env = {
        "DATABASE_URL": url,
        "DATA_DIR": str(work / "data"),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    probe = f"http://127.0.0.1:{port}/healthz"
    return server([str(PAPERBOT), "run"], probe, work, "paperbot-run", **env)


def serve_static(directory: Path, port: int) -> None:
    """The baseline: a bare aiohttp static handler (`--serve-static`, in its own process)."""
    from aiohttp import web

    app = web.Application()
    app.router.add_static("/", directory)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


NGINX_CONF = """
{user}worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  client_body_temp_path {work}/nginx-body;
  proxy_temp_path {work}/nginx-proxy;
  fastcgi_temp_path {work}/nginx-fastcgi;
  uwsgi_temp_path {work}/nginx-uwsgi;
  scgi_temp_path {work}/nginx-scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
"""


def nginx_binary() -> str | None:
    """Debian puts nginx in /usr/sbin, often not on a user's PATH."""
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)


def static_server(kind: str, work: Path, directory: Path, port: int) -> Any:
    """The baseline's server: one process (one nginx worker), like `paperbot run`."""
    probe = f"http://127.0.0.1:{port}/"
    if kind == "nginx":
        conf = work / "nginx.conf"
        user = "user root;\n" if os.geteuid() == 0 else ""  # the files are in a 0700 dir
        conf.write_text(NGINX_CONF.format(user=user, work=work, port=port, root=directory))
        return server([str(nginx_binary()), "-p", str(work), "-c", str(conf)], probe, work, "nginx")
    command = [sys.executable, __file__, "--serve-static", str(directory), "--port", str(port)]
    return server(command, probe, work, "static")


# --- load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_load(
    url: str, connections: int, seconds: float, threads: int, script: Path | None = None
) -> Load:
    command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}"]
    command += [f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s", url]
    command += ["-s", str(script)] if script else []
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    out = result.stdout

    def latency(percent: str) -> float:
        found = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found is None:
            sys.exit(f"cannot read wrk's {percent}% latency:\n{out}")
        return float(found.group(1)) * _WRK_UNITS[found.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        sys.exit(f"cannot read wrk's output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Load(float(rps.group(1)), latency("50"), latency("99"), int(total.group(1)), errors)


def percentile(ordered: Sequence[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


async def _python_load(
    url: str,
    connections: int,
    seconds: float,
    paths: list[str],
    start: Callable[[], Awaitable[None]] | None = None,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """`connections` workers GET `paths` in turn for `seconds`; the clock starts once
    `start` (if any) returns, so several generators can start together. A request over
    `timeout_s` counts as an error."""
    import aiohttp

    urls = [url + path for path in paths] or [url]
    sent = 0
    samples: list[float] = []
    errors = 0
    if start is not None:
        await start()
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors, sent
        while time.perf_counter() < deadline:
            target, sent = urls[sent % len(urls)], sent + 1
            started = time.perf_counter()
            try:
                async with session.get(target) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            samples.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    headers = {"Accept-Encoding": "identity"}  # as wrk: the page's own bytes
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "rps": len(samples) / elapsed,
        "p50_ms": percentile(samples, 0.50) if samples else 0.0,
        "p99_ms": percentile(samples, 0.99) if samples else 0.0,
        "requests": len(samples),
        "errors": errors,
    }


def python_load(url: str, connections: int, seconds: float, paths: Path | None = None) -> Load:
    """The aiohttp load generator, in a process of its own (`--load URL`)."""
    command = [sys.executable, __file__, "--load", url, "--connections", str(connections)]
    command += ["--duration", str(seconds)]
    command += ["--paths", str(paths)] if paths else []
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return Load(**json.loads(result.stdout))


def measure(url: str, args: argparse.Namespace, warm: bool = True) -> Load:
    """Warm up (the page cache, the connections), then the measured run."""
    run = (
        (lambda s: wrk_load(url, args.connections, s, args.threads))
        if args.loader == "wrk"
        else (lambda s: python_load(url, args.connections, s))
    )
    if warm and args.warmup > 0:
        run(args.warmup)
    return run(args.duration)


def distinct_queries(count: int) -> list[str]:
    """Search paths that never repeat within a run, so no answer comes from the page cache:
    two or three of the synthetic column's Chinese terms (most find something)."""
    import random

    from bench.search_latency import ZH_TERMS

    rng = random.Random(5)
    queries: dict[str, None] = {}
    while len(queries) < count:
        terms = rng.sample(ZH_TERMS, rng.choice([1, 2, 2, 3]))
        queries[f"/search?q={quote(' '.join(terms))}&page={rng.randint(1, 3)}"] = None
    return list(queries)


def measure_uncached_search(base: str, work: Path, args: argparse.Namespace) -> Load:
    """Every request a search no one asked before in this run (no warm-up: it would only
    put answers in the cache)."""
    paths = distinct_queries(args.search_queries)
    if args.loader == "wrk":
        script = work / "distinct-searches.lua"
        table = ",\n".join(json.dumps(path) for path in paths)
        script.write_text(
            f"local paths = {{\n{table}\n}}\nlocal n = 0\n"
            "request = function()\n  n = n + 1\n"
            "  return wrk.format('GET', paths[(n - 1) % #paths + 1])\nend\n"
        )
        return wrk_load(base, args.connections, args.duration, args.threads, script)
    listing = work / "distinct-searches.txt"
    listing.write_text("\n".join(paths))
    return python_load(base, args.connections, args.duration, listing)


# --- the run --------------------------------------------------------------------------


def fetch_bytes(base: str, path: str) -> bytes:
    import httpx

    response = httpx.get(base + path, headers={"Accept-Encoding": "identity"}, timeout=30)
    if response.status_code != 200:
        sys.exit(
            f"GET {path} answered {response.status_code}, not 200: "
            "does this build serve the web archive (bot/channels/web)?"
        )
    return response.content


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def verdict(ok: bool) -> str:
    return "ok" if ok else "BELOW TARGET"


def search_check(label: str, load: Load) -> str:
    return (
        f"{label}: {verdict(load.rps >= SEARCH_RPS)} ({load.rps:.0f} req/s), "
        f"p99 {verdict(load.p99_ms <= P99_MS)} ({load.p99_ms:.1f} ms)"
    )


STATIC_NAMES = {"nginx": "nginx, 1 worker", "aiohttp": "a bare aiohttp static handler"}


def run(args: argparse.Namespace, work: Path) -> list[str]:
    url = build_store(work / "web.db", args.reviews)
    slug = f"bench-{args.reviews // 2}"
    statics = ["nginx", "aiohttp"] if args.static == "both" else [args.static]
    port = free_port()
    static_ports = {kind: free_port() for kind in statics}
    loader = "wrk" if args.loader == "wrk" else "aiohttp load generator"
    baseline = " and ".join(STATIC_NAMES[kind] for kind in statics)
    static_columns = "".join(
        f" {kind + ' req/s':>13} {kind + ' p99':>11} {'ratio':>6}" for kind in statics
    )
    lines = [
        f"web throughput, {args.reviews} published reviews, {args.connections} connections, "
        f"{args.duration:g} s a run, load by {loader}, {dt.date.today().isoformat()}",
        f"static baseline: the same bytes from {baseline}",
        f"load average before: {load_average()}",
        f"{'endpoint':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}{static_columns}",
    ]
    static_dir = work / "static"
    static_dir.mkdir(exist_ok=True)
    checks = []
    with paperbot(work, url, port), contextlib.ExitStack() as servers:
        base = f"http://127.0.0.1:{port}"
        files = {}
        for n, (label, path, _cached) in enumerate(ENDPOINTS):
            name = f"page-{n}.bin"
            (static_dir / name).write_bytes(fetch_bytes(base, path.format(slug=slug)))
            files[label] = name
        for kind in statics:
            servers.enter_context(static_server(kind, work, static_dir, static_ports[kind]))
        for label, path, cached in ENDPOINTS:
            ours = measure(base + path.format(slug=slug), args)
            row = (
                f"{label:<18} {ours.rps:9.0f} {ours.p50_ms:8.2f} {ours.p99_ms:8.2f} "
                f"{ours.errors:7d}"
            )
            ratios = []
            for kind in statics:
                static = measure(f"http://127.0.0.1:{static_ports[kind]}/{files[label]}", args)
                ratio = ours.rps / static.rps if static.rps else 0.0
                ratios.append(f"{ratio:.2f} of {kind}")
                row += f" {static.rps:13.0f} {static.p99_ms:11.2f} {ratio:6.2f}"
            lines.append(row)
            if cached:
                # The target's ratio is against the first baseline (nginx when there).
                first = float(ratios[0].split()[0])
                checks.append(
                    f"{label}: {verdict(ours.rps >= CACHED_RPS)} ({ours.rps:.0f} req/s), "
                    f"ratio {verdict(first >= CACHED_RATIO)} ({', '.join(ratios)}), "
                    f"p99 {verdict(ours.p99_ms <= P99_MS)} ({ours.p99_ms:.1f} ms)"
                )
            else:
                checks.append(search_check(label, ours))
        label = "/search, distinct"
        ours = measure_uncached_search(base, work, args)
        dashes = "".join(f" {'-':>13} {'-':>11} {'-':>6}" for _ in statics)
        lines.append(
            f"{label:<18} {ours.rps:9.0f} {ours.p50_ms:8.2f} {ours.p99_ms:8.2f} "
            f"{ours.errors:7d}{dashes}"
        )
        checks.append(search_check(label, ours))
    lines.append(f"load average after: {load_average()}")
    lines.append(
        f"targets: cached pages >= {CACHED_RPS} req/s and >= {CACHED_RATIO} x static; "
        f"search >= {SEARCH_RPS} req/s; p99 <= {P99_MS:g} ms"
    )
    return lines + checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reviews", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each run")
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--static",
        choices=["auto", "both", "nginx", "aiohttp"],
        default="auto",
        help="the baseline's server (auto: both nginx and aiohttp when nginx is installed)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--work-dir", type=Path, help="for the store and logs (default: temp)")
    # Internal modes: the child processes this script starts.
    parser.add_argument("--serve-static", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--search-queries", type=int, default=20_000, help="distinct searches of the last row"
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--paths", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_static is not None:
        serve_static(args.serve_static, args.port)
        return 0
    if args.load is not None:
        paths = args.paths.read_text().splitlines() if args.paths else []
        figures = asyncio.run(_python_load(args.load, args.connections, args.duration, paths))
        print(json.dumps(figures))
        return 0
    if args.loader == "auto":
        args.loader = "wrk" if shutil.which("wrk") else "python"
    if args.static == "auto":
        args.static = "both" if nginx_binary() else "aiohttp"
    if args.static in ("both", "nginx") and not nginx_binary():
        sys.exit("nginx is not installed (apt-get install nginx), use --static aiohttp")

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="paperbot-web-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print("\n".join(run(args, work)))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
