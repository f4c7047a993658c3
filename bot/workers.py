"""`paperbot run --workers N`: one command that uses every core.

One `paperbot run` process is one event loop under one GIL: its Python work (HTTP,
WeChat's crypto, the reads, the replies) runs on one core, whatever the machine has.
Several processes already share the work as replicas (one leader for the scheduled jobs
and Telegram polling, heartbeats in `replicas`, bot/replicas.py), so N cores need N of
them; `--workers N` (HTTP_WORKERS) makes that one command instead of N units behind a
proxy.

The process started as `paperbot run --workers N` becomes a supervisor that serves
nothing itself. It migrates and seeds the store once, reserves HTTP_HOST:HTTP_PORT (a
port another program holds is one clear error, exit status 3, before any worker starts),
then starts N workers: `paperbot run --worker-of PID`, each a whole runtime (a replica
like any other) listening through its own socket with SO_REUSEPORT, so the kernel
spreads the connections over them and a worker that dies takes only its own
connections with it. Each worker tells the supervisor once it serves (a byte on a
pipe), and stops by itself (draining) when its supervisor is gone.

The supervisor forwards SIGTERM and SIGINT to the workers (each in a process group of its
own, so Ctrl-C at a terminal reaches them once, through the supervisor) and waits for
their drain; it exits 0 when they all did. A worker that dies otherwise (SIGKILL, a
crash, the OOM killer) is started again after a delay that doubles from
RESTART_SECONDS up to RESTART_MAX_SECONDS (back to the first after it served for
STABLE_SECONDS), one log line each time. A worker that dies STARTUP_FAILURES times in a
row before it served stops the whole command with its exit status: a worker that cannot
start will not start the next time either, and a loop would only fill the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import site
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

    from bot.app import Core
    from bot.settings import Settings

log = logging.getLogger(__name__)

#: A worker that dies this many times in a row before it served ends the command.
STARTUP_FAILURES = 3
#: The first restart's delay; it doubles for each death in a row, up to the maximum.
RESTART_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
#: A worker that served this long before it died is restarted after the first delay.
STABLE_SECONDS = 30.0
#: How often a worker checks that its supervisor is still there.
PARENT_CHECK_SECONDS = 1.0


class AddressError(Exception):
    """HTTP_HOST:HTTP_PORT cannot be listened on (another program has it, or the
    address is not this machine's); the message says which and why."""


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """The first address `host` resolves to, for a passive TCP socket."""
    try:
        family, _type, _proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise AddressError(f"HTTP_HOST {host!r} does not resolve: {exc.strerror}") from None
    return family, (str(address[0]), int(address[1]))


def _bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason += " (another program listens there: stop it or choose another HTTP_PORT)"
        raise AddressError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def worker_socket(host: str, port: int) -> socket.socket:
    """A worker's own socket on the shared address (SO_REUSEPORT: the kernel hands each
    new connection to one of the workers' listening sockets, evenly).

    Bound at once (an address it cannot have ends the worker before it starts
    anything) but not listening: uvicorn's server listens on it once the app has started
    (asyncio's `create_server(sock=…)`), so no connection waits in the backlog of a
    worker still starting while the others serve."""
    return _bind(host, port, reuse_port=True)


def reserve_address(host: str, port: int) -> socket.socket:
    """Check that HTTP_HOST:HTTP_PORT is free and keep it for the workers.

    A plain bind first: it fails if anything listens there, even another group of
    SO_REUSEPORT sockets (which a second `paperbot run --workers` on the same port
    would silently join). Then a bound, never listening SO_REUSEPORT socket, held for
    the supervisor's lifetime: no connection goes to it (only listening sockets get
    any), and a program without SO_REUSEPORT cannot take the port while a worker
    restarts."""
    _bind(host, port, reuse_port=False).close()
    return _bind(host, port, reuse_port=True)


# --- the worker side -------------------------------------------------------------------


@dataclass
class Worker:
    """How one worker serves: on its own socket, telling its supervisor when it does,
    stopping when the supervisor is gone."""

    sock: socket.socket
    supervisor: int
    ready_fd: int | None = None

    async def serve(self, server: uvicorn.Server) -> None:
        serving = asyncio.create_task(server.serve(sockets=[self.sock]), name="uvicorn")
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        watch: asyncio.Task[None] | None = None
        if server.started:
            self._ready()
            watch = asyncio.create_task(self._watch_supervisor(server), name="supervisor")
        try:
            await serving
        finally:
            if watch is not None:
                watch.cancel()

    def _ready(self) -> None:
        log.info("serving (worker of pid %d)", self.supervisor)
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, b"1")
        except OSError:
            pass  # the supervisor is gone: the watch stops this worker
        finally:
            os.close(self.ready_fd)
            self.ready_fd = None

    async def _watch_supervisor(self, server: uvicorn.Server) -> None:
        """An orphaned worker drains and stops: no one would restart or stop it."""
        while os.getppid() == self.supervisor:
            await asyncio.sleep(PARENT_CHECK_SECONDS)
        log.warning("the supervisor (pid %d) is gone; stopping", self.supervisor)
        server.should_exit = True


# --- the supervisor ----------------------------------------------------------------------


#: The command line of worker `index`, given the fd its end of the ready pipe has.
WorkerCommand = Callable[[int], Sequence[str]]


@dataclass
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    deaths_before_ready: int = 0
    delay: float = RESTART_SECONDS


class Supervisor:
    """N workers kept running until a signal, or one cannot start."""

    def __init__(
        self,
        count: int,
        command: WorkerCommand,
        *,
        env: dict[str, str] | None = None,
        startup_failures: int = STARTUP_FAILURES,
        restart_seconds: float = RESTART_SECONDS,
        restart_max_seconds: float = RESTART_MAX_SECONDS,
        stable_seconds: float = STABLE_SECONDS,
    ) -> None:
        self.count = count
        self.command = command
        self.env = env
        self.startup_failures = startup_failures
        self.restart_seconds = restart_seconds
        self.restart_max_seconds = restart_max_seconds
        self.stable_seconds = stable_seconds
        self._slots = [_Slot(index, delay=restart_seconds) for index in range(1, count + 1)]
        self._stopping: asyncio.Event | None = None
        self._gave_up: int | None = None

    def run(self) -> int:
        """Supervise until the workers stopped; the exit status for the command."""
        return asyncio.run(self._run())

    async def _run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        handled = (signal.SIGTERM, signal.SIGINT)
        before = {signum: signal.getsignal(signum) for signum in handled}
        for signum in handled:
            loop.add_signal_handler(signum, self._forward, signum)
        try:
            statuses = await asyncio.gather(*(self._keep(slot) for slot in self._slots))
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
                signal.signal(signum, before[signum])
        if self._gave_up is not None:
            return self._gave_up
        failed = [status for status in statuses if status != 0]
        if failed:
            log.error("workers stopped with exit status %s", ", ".join(map(str, failed)))
            return failed[0]
        log.info("all %d workers stopped", self.count)
        return 0

    def _forward(self, signum: int) -> None:
        """The first signal stops the workers (each drains); another is passed on too
        (a second SIGINT makes uvicorn stop at once)."""
        assert self._stopping is not None
        if not self._stopping.is_set():
            log.info(
                "%s: stopping %d workers (each drains its requests)",
                signal.Signals(signum).name,
                self.count,
            )
            self._stopping.set()
        self._signal_all(signum)

    def _signal_all(self, signum: int) -> None:
        for slot in self._slots:
            process = slot.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    async def _keep(self, slot: _Slot) -> int:
        """Run worker `slot.index` until the supervisor stops; its last exit status."""
        assert self._stopping is not None
        stopping = self._stopping
        while True:
            started = time.monotonic()
            process, ready = await self._start(slot)
            if stopping.is_set():  # the signal came while it was being started
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            status = await process.wait()
            served = ready.done() and ready.result()
            if stopping.is_set():
                if status in (-signal.SIGTERM, -signal.SIGINT):
                    return 0  # stopped by the signal passed on before it could drain
                return _exit_status(status)
            ready.cancel()
            what = _describe(status)
            if not served:
                slot.deaths_before_ready += 1
                if slot.deaths_before_ready >= self.startup_failures:
                    return self._give_up(slot, process.pid, status)
            else:
                slot.deaths_before_ready = 0
                if time.monotonic() - started >= self.stable_seconds:
                    slot.delay = self.restart_seconds
            log.warning(
                "worker %d (pid %d) %s%s; starting it again in %.1f s",
                slot.index,
                process.pid,
                what,
                "" if served else " before it served",
                slot.delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), slot.delay)
            if stopping.is_set():
                return 0
            slot.delay = min(slot.delay * 2, self.restart_max_seconds)

    def _give_up(self, slot: _Slot, pid: int, status: int) -> int:
        assert self._stopping is not None
        code = _exit_status(status) or 1
        if self._gave_up is None:
            log.error(
                "worker %d (pid %d) %s before it served, %d times in a row; stopping all "
                "workers (exit status %d; the worker's own lines above say why)",
                slot.index,
                pid,
                _describe(status),
                slot.deaths_before_ready,
                code,
            )
            self._gave_up = code
        self._stopping.set()
        self._signal_all(signal.SIGTERM)
        return code

    async def _start(self, slot: _Slot) -> tuple[asyncio.subprocess.Process, asyncio.Future[bool]]:
        """Start the slot's worker; the future says (True) once it serves, False if it
        closed the pipe without (it died)."""
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command(write_fd),
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=(write_fd,),
                env=self.env,
                # Its own process group: a terminal's Ctrl-C reaches the supervisor only,
                # which passes it on once (twice would be uvicorn's "stop at once").
                process_group=0,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        slot.process = process
        ready: asyncio.Future[bool] = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(read_fd, 1)
            except OSError:
                data = b""
            loop.remove_reader(read_fd)
            os.close(read_fd)
            if not ready.done():
                ready.set_result(bool(data))

        loop.add_reader(read_fd, readable)
        ready.add_done_callback(lambda _f: _close_reader(loop, read_fd))
        log.info("worker %d started (pid %d)", slot.index, process.pid)
        return process, ready


def run_worker(
    settings: Settings, supervisor: int, ready_fd: int | None, open_core: Callable[[Settings], Core]
) -> None:
    """One worker of `run --workers N`: its socket first (a port it cannot have ends it
    before it starts anything), then a whole runtime on the store its supervisor
    prepared (`open_core`: without migrating or seeding)."""
    from bot.log_format import set_process_fields
    from bot.runtime import build_runtime, serve

    set_process_fields(worker=os.getpid())
    try:
        sock = worker_socket(settings.http_host, settings.http_port)
    except AddressError as exc:
        log.error("%s", exc)
        raise SystemExit(3) from None
    serve(build_runtime(open_core(settings)), Worker(sock, supervisor, ready_fd))


def supervise(settings: Settings, count: int, prepare_store: Callable[[], None]) -> int:
    """`run --workers N`: keep the address, prepare the store once (`prepare_store`:
    migrate and seed, what every worker would do at start), start the workers and
    supervise them; their exit status. AddressError when the address is taken."""
    from bot.runtime import start_line, startup_lines

    for line in startup_lines(settings):
        log.info(line)
    reserved = reserve_address(settings.http_host, settings.http_port)
    try:
        prepare_store()
        url = f"http://{settings.http_host}:{settings.http_port}"
        log.info(start_line(settings, url))
        log.info("starting %d workers (this supervisor: pid %d)", count, os.getpid())
        me = str(os.getpid())
        env = worker_environment()

        def command(ready_fd: int) -> list[str]:
            worker = ["run", "--worker-of", me, "--ready-fd", str(ready_fd)]
            return [sys.executable, "-P", "-m", "bot", *worker]

        return Supervisor(count, command, env=env).run()
    finally:
        reserved.close()


def worker_environment() -> dict[str, str]:
    """This environment, with the code this process runs first on the workers' path
    (`python -P -m bot`: not the current directory's), unless it is installed in
    site-packages (which must not go before the standard library)."""
    package_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    installed = {str(Path(p).resolve()) for p in site.getsitepackages()}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_root not in installed and package_root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([package_root, *paths])
    return env


def _close_reader(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """A cancelled readiness wait: stop watching the pipe and close it (once)."""
    if loop.remove_reader(fd):
        with contextlib.suppress(OSError):
            os.close(fd)


def _exit_status(returncode: int) -> int:
    """A child's return code as a shell's exit status (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"
