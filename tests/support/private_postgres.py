"""A private PostgreSQL 15 server a test starts, stops and starts again (issue 13, point 2).

The machine's PostgreSQL (127.0.0.1:5432) is shared by every test and helper: a test
that restarts the database must not restart that one. This starts a server of its own
from Debian's binaries (/usr/lib/postgresql/15/bin, or PAPERBOT_POSTGRES_BIN): `initdb`
into a temporary directory, trust authentication, a free TCP port on 127.0.0.1 and its
Unix socket in the same directory (never /var/run/postgresql, the machine server's).
PostgreSQL refuses to run as root, and the tests run as root, so the data directory is
given to the `postgres` user and every server command runs under `runuser -u postgres`.

`stop(mode)` is `pg_ctl stop -m fast` (clients disconnected, a clean shutdown) or `-m
immediate` (no shutdown checkpoint: crash recovery at the next start), and `start()`
brings the same data directory back on the same port, so a client's URL is good across
the restart. Without the binaries (or `runuser`, or the `postgres` user) the tests skip
loudly; with PAPERBOT_REQUIRE_POSTGRES=1 (.ci/run) they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest

from tests.support.network import free_port


def _bin_dir() -> Path:
    """PAPERBOT_POSTGRES_BIN if set; else Debian's PostgreSQL 15 (these machines'), else
    the newest /usr/lib/postgresql/N/bin with an initdb (a CI image on another release)."""
    if configured := os.environ.get("PAPERBOT_POSTGRES_BIN"):
        return Path(configured)
    preferred = Path("/usr/lib/postgresql/15/bin")
    if (preferred / "initdb").is_file():
        return preferred
    found = [
        p.parent
        for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
        if p.parent.parent.name.isdigit()
    ]
    return max(found, key=lambda b: int(b.parent.name), default=preferred)


BIN_DIR = _bin_dir()
#: The user the server runs as (PostgreSQL will not run as root).
SERVER_USER = "postgres"

StopMode = Literal["smart", "fast", "immediate"]


def _missing() -> str | None:
    """Why a private server cannot be started here, or None."""
    for name in ("initdb", "pg_ctl", "postgres"):
        if not (BIN_DIR / name).is_file():
            return f"{BIN_DIR / name} is missing (apt-get install postgresql-15)"
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        return f"there is no {SERVER_USER!r} user to run the server as"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is missing (util-linux): needed to run the server as postgres"
    return None


def require_private_postgres() -> None:
    """Skip loudly (fail under PAPERBOT_REQUIRE_POSTGRES=1) when no server can be made."""
    problem = _missing()
    if problem is None:
        return
    message = f"cannot start a private PostgreSQL: {problem}"
    if os.environ.get("PAPERBOT_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " (PAPERBOT_REQUIRE_POSTGRES=1)")
    pytest.skip("SKIPPING PRIVATE POSTGRESQL TEST — " + message)


class PrivatePostgres:
    """One server: its directory, port and the commands that stop and start it."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.log = root / "server.log"
        self.port = port

    @property
    def url(self) -> str:
        """The database `postgres` over TCP, as the bot's DATABASE_URL."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [*argv]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
                f"\n--- server log ---\n{self.server_log()}"
            )
        return result

    def server_log(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"

    def init(self) -> None:
        self.data.mkdir(parents=True)
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            for path in (self.root, self.data, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            str(BIN_DIR / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # a throwaway server: no fsync of the fresh cluster
        )

    def start(self) -> None:
        """Start (again) on the same data directory and port; returns once it accepts
        connections (`pg_ctl -w`)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.socket_dir} "
            # fsync off keeps a loaded CI machine from stalling on the disk and loses
            # nothing unless the machine itself crashes. synchronous_commit stays on:
            # with it off, `stop -m immediate` loses commits the client was told were
            # done (a `sent` written, then gone: a duplicate no product could prevent).
            "-c fsync=off"
        )
        self._run(
            str(BIN_DIR / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: StopMode = "fast") -> None:
        """`pg_ctl stop -m MODE`, waiting until the server is gone."""
        self._run(
            str(BIN_DIR / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"
        )

    def restart(self, mode: StopMode = "fast", down_for: float = 2.0) -> float:
        """Stop, stay down `down_for` seconds, start; returns the seconds it was down."""
        stopped = time.monotonic()
        self.stop(mode)
        time.sleep(down_for)
        self.start()
        return time.monotonic() - stopped

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def kill(self) -> None:
        """SIGKILL the postmaster this started (its pid from postmaster.pid), when
        pg_ctl could not stop it: no server outlives its test."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh server for the block; stopped (immediately) and deleted afterwards."""
    require_private_postgres()
    # Not pytest's tmp_path: its parents are root's, mode 0700, so `postgres` could not
    # reach a data directory under it.
    root = Path(tempfile.mkdtemp(prefix="paperbot-pg-"))
    server = PrivatePostgres(root, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            try:
                server.stop("immediate")
            except (AssertionError, subprocess.TimeoutExpired):
                server.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL for one test, which it may stop and start at will."""
    with private_postgres() as server:
        yield server
