"""Ports for the processes and servers a test starts."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a `paperbot run` process's HTTP_PORT
    (processes of parallel test runs must not all bind the default 8080)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
