"""The fake Bot API server in a child process, so benchmarks do not share its CPU.

Used by the benchmarks only; tests run the server in a thread of their own process.
"""

from __future__ import annotations

import sys
from collections import Counter
from multiprocessing import Pipe, get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# Run as a script (`python bench/push_broadcast.py`): the repository's root, where the
# `tests` package lives, is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update


def _serve(connection: Connection, options: dict[str, Any]) -> None:
    with FakeTelegramServer(**options) as server:
        connection.send(server.base_url)
        while True:
            command, argument = connection.recv()
            if command == "push_texts":
                texts, readers = argument
                users = [make_user(10_000 + n, f"r{n}") for n in range(readers)]
                for n, text in enumerate(texts):
                    server.push_update(message_update(users[n % readers], text))
                connection.send(None)
            elif command == "sent":
                calls = server.calls
                connection.send(sum(1 for c in calls if c.method == "sendMessage" and c.ok))
            elif command == "sent_by_chat":
                connection.send(Counter(m.chat_id for m in server.sent_messages()))
            elif command == "rejected":
                connection.send([c.summary() for c in server.rejected_calls()])
            elif command == "rate_limit_hits":
                connection.send(server.rate_limit_hits)
            elif command == "reset":
                server.reset_calls()
                connection.send(None)
            else:
                connection.send(None)
                return


class RemoteServer:
    def __init__(self, **options: Any) -> None:
        self.connection, child = Pipe()
        context = get_context("spawn")
        self.process = context.Process(target=_serve, args=(child, options), daemon=True)
        self.process.start()
        self.base_url: str = self.connection.recv()

    def ask(self, command: str, argument: object = None) -> Any:
        self.connection.send((command, argument))
        return self.connection.recv()

    def close(self) -> None:
        self.ask("stop")
        self.process.join(10)

    def __enter__(self) -> RemoteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
