"""`paperbot run --workers N` (bot/workers.py), as real processes on a SQLite file.

A supervisor starts N workers, each a whole runtime (a replica: leader election,
heartbeat) listening on the same HTTP_PORT through its own SO_REUSEPORT socket; it
restarts a worker that dies, passes SIGTERM on and exits with the workers' status, and
refuses a port another program holds before it starts anything. /healthz says which
worker answered (`pid`, `replica`): a new connection each request lets the kernel pick.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.db.engine import make_engine, make_session_factory
from bot.replicas import ReplicaRegistry, ReplicaView
from bot.workers import Supervisor
from tests.support.cli import PAPERBOT, run_cli
from tests.support.network import free_port
from tests.test_runtime import environment

WORKERS = 2
LEASE = 3.0
#: uvicorn's drain (30 s) and the lifespan's, with room for a loaded machine.
DRAIN_SECONDS = 60


@dataclass
class Workers:
    process: subprocess.Popen[str]
    base: str
    log: Path
    database_url: str

    def output(self) -> str:
        return self.log.read_text()


def _env(tmp_path: Path, port: int, database_url: str) -> dict[str, str]:
    return environment(
        tmp_path,
        DATABASE_URL=database_url,
        HTTP_PORT=str(port),
        PAPERBOT_HOME=str(tmp_path / "home"),
        LEADER_LEASE_SECONDS=str(LEASE),
        ARXIV_API_URL="http://127.0.0.1:9/api/query",
        ARXIV_FEED_URL="http://127.0.0.1:9/rss/{category}",
    )


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    log = tmp_path / "run.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(PAPERBOT), "run", "--workers", str(WORKERS)],
            cwd=tmp_path,
            env=_env(tmp_path, port, url),
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    running = Workers(process, f"http://127.0.0.1:{port}", log, url)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(DRAIN_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()  # its workers see it gone and stop by themselves
                process.wait(10)


def _health(base: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{base}/healthz", timeout=5)  # a new connection each time
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _until(condition: Callable[[], Any], timeout: float, what: str, log: Workers) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert log.process.poll() is None, f"exited {log.process.returncode}:\n{log.output()}"
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}\n{log.output()}")


def _serving_pids(workers: Workers, count: int, timeout: float = 90) -> set[int]:
    """The pids /healthz answers from, once `count` different ones did."""
    seen: set[int] = set()

    def enough() -> bool:
        health = _health(workers.base)
        if health is not None:
            seen.add(int(health["pid"]))
        return len(seen) >= count

    _until(enough, timeout, f"{count} workers answering", workers)
    return seen


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _replicas(url: str) -> list[ReplicaView]:
    engine = make_engine(url)
    try:
        return ReplicaRegistry(make_session_factory(engine)).all()
    finally:
        engine.dispose()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(workers: Workers, pids: set[int]) -> None:
    """SIGTERM to the supervisor: it and every worker are gone, exit status 0, within
    the drain time."""
    started = time.monotonic()
    workers.process.send_signal(signal.SIGTERM)
    assert workers.process.wait(DRAIN_SECONDS) == 0, workers.output()
    assert time.monotonic() - started < DRAIN_SECONDS
    assert [pid for pid in pids if _alive(pid)] == []
    output = workers.output()
    assert f"all {WORKERS} workers stopped" in output
    assert "Traceback" not in output


def test_both_workers_serve_one_leads_and_sigterm_stops_them_all(workers: Workers) -> None:
    pids = _serving_pids(workers, WORKERS)
    # The supervisor serves nothing itself: the answers come from its children.
    assert {_parent(pid) for pid in pids} == {workers.process.pid}
    assert workers.process.pid not in pids

    def one_leader() -> list[ReplicaView] | None:
        replicas = _replicas(workers.database_url)
        if {r.pid for r in replicas} != pids:
            return None
        leaders = [r for r in replicas if r.role == "leader"]
        return replicas if len(leaders) == 1 else None

    replicas = _until(one_leader, 30, "a heartbeat from each worker, one leader", workers)
    assert sorted(r.role for r in replicas) == ["follower", "leader"]
    health = _health(workers.base)
    assert health is not None
    assert health["replica"] in {r.holder for r in replicas}
    # Each worker's lines say whose they are; the supervisor's start-up lines come once.
    output = workers.output()
    for pid in pids:
        assert f"[worker={pid}]" in output
    assert output.count("database: sqlite") == 1
    _stop(workers, pids)


def test_a_sigkilled_worker_is_started_again_and_service_continues(workers: Workers) -> None:
    pids = _serving_pids(workers, WORKERS)
    victim, survivor = sorted(pids)
    os.kill(victim, signal.SIGKILL)
    died = f"(pid {victim}) was killed by SIGKILL; starting it again"
    _until(lambda: died in workers.output(), 30, "the supervisor seeing the kill", workers)
    # Its socket closed with it: the survivor answers every request meanwhile.
    answered = [_health(workers.base) for _ in range(20)]
    assert all(health is not None for health in answered), answered
    assert {int(h["pid"]) for h in answered if h is not None} <= {survivor} | _children(workers)

    def replaced() -> set[int] | None:
        now = _serving_pids(workers, WORKERS)
        return now if victim not in now and survivor in now else None

    after = _until(replaced, 90, "the killed worker replaced", workers)
    replacement = (after - {survivor}).pop()
    assert _parent(replacement) == workers.process.pid
    output = workers.output()
    assert output.count(died) == 1
    _stop(workers, after)


def _children(workers: Workers) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if _parent(int(entry.name)) == workers.process.pid:
                    children.add(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return children


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "so-reuseport"])
def test_a_port_another_program_holds_is_one_error_and_no_worker(
    tmp_path: Path, reuse_port: bool
) -> None:
    """Refused before any worker starts, whether the holder has SO_REUSEPORT or not (a
    second `--workers` on the port would otherwise join the first's group)."""
    with socket.socket() as holder:
        if reuse_port:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'bot.db'}"
        started = time.monotonic()
        result = subprocess.run(
            [str(PAPERBOT), "run", "--workers", "2"],
            cwd=tmp_path,
            env=_env(tmp_path, port, url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 3, result.stdout + result.stderr
    assert time.monotonic() - started < 60
    assert f"Error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "another program listens there" in result.stderr
    assert "worker 1 started" not in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_that_die_before_they_serve_stop_the_supervisor() -> None:
    """No restart loop: the third death in a row before serving ends it, with the
    worker's exit status (real processes: a worker that exits 3 at once)."""

    def command(_ready_fd: int) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.exit(3)"]

    supervisor = Supervisor(2, command, startup_failures=3, restart_seconds=0.05)
    started = time.monotonic()
    assert supervisor.run() == 3
    assert time.monotonic() - started < 30


def test_a_worker_that_served_is_restarted_each_time_it_dies(tmp_path: Path) -> None:
    """A worker that said it serves and then dies is not a start-up failure: restarted
    (here: four lives, each reporting ready, then exiting 1), until a signal stops the
    supervisor; its exit status is then the workers' (0)."""
    marker = tmp_path / "lives"
    script = (
        "import os, sys, time\n"
        f"path = {str(marker)!r}\n"
        "with open(path, 'a') as f: f.write('x')\n"
        "os.write(int(sys.argv[1]), b'1')\n"
        "if len(open(path).read()) < 4: sys.exit(1)\n"
        "import signal\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "time.sleep(60)\n"
    )

    def command(ready_fd: int) -> list[str]:
        return [sys.executable, "-c", script, str(ready_fd)]

    supervisor = Supervisor(1, command, startup_failures=2, restart_seconds=0.05)
    stopper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time, signal\n"
            f"path = {str(marker)!r}\n"
            "deadline = time.time() + 60\n"
            "while time.time() < deadline:\n"
            "    if os.path.exists(path) and len(open(path).read()) >= 4: break\n"
            "    time.sleep(0.05)\n"
            "else:\n"
            "    sys.exit(1)\n"
            "time.sleep(0.5)\n"
            f"os.kill({os.getpid()}, signal.SIGTERM)\n",
        ]
    )
    try:
        assert supervisor.run() == 0
    finally:
        stopper.wait(60)
    assert marker.read_text() == "xxxx"


def test_run_help_documents_workers_not_the_internal_options(tmp_path: Path) -> None:
    result = run_cli(["run", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--workers" in result.stdout and "HTTP_WORKERS" in result.stdout
    assert "--worker-of" not in result.stdout and "--ready-fd" not in result.stdout
