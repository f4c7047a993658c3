"""The process's Prometheus metrics, in a registry of its own (not the global one).

One `Metrics` per runtime, so tests can build several in one interpreter; /metrics
renders `registry`. The core never imports this: the runtime and the channel adapters
count what passes through them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.core.push import PushSummary


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.updates = Counter(
            "paperbot_updates_handled",
            "Updates handled, by channel and command (or kind).",
            ["channel", "command"],
            registry=self.registry,
        )
        self.replies = Counter(
            "paperbot_replies",
            "Replies sent in answer to updates, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.errors = Counter(
            "paperbot_errors",
            "Updates whose handling raised, by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.push_deliveries = Counter(
            "paperbot_push_deliveries",
            "Push deliveries by outcome (sent, blocked, failed, skipped).",
            ["outcome"],
            registry=self.registry,
        )
        self.search_seconds = Histogram(
            "paperbot_search_seconds",
            "Time one search takes.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.arxiv_polls = Counter(
            "paperbot_arxiv_polls",
            "arXiv category polls by outcome.",
            ["outcome"],
            registry=self.registry,
        )

        self.frozen_objects = Gauge(
            "paperbot_gc_frozen_objects",
            "Objects moved out of the garbage collector's walks after start-up (bot.heap).",
            registry=self.registry,
        )

    def count_push(self, summary: PushSummary) -> None:
        outcomes = {
            "sent": summary.deliveries_sent,
            "blocked": summary.blocked,
            "failed": summary.failed,
            "skipped": summary.skipped,
        }
        for outcome, number in outcomes.items():
            self.push_deliveries.labels(outcome).inc(number)

    def render(self) -> bytes:
        return generate_latest(self.registry)
