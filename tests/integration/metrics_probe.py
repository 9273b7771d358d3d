"""What the cluster-metrics tests share: a stand-in ingress replica that counts turns as the
socket does, and a scrape of a node's Ray metrics agent."""

from __future__ import annotations

import socket
import urllib.request
from collections import defaultdict
from typing import Any

import ray
from prometheus_client.parser import text_string_to_metric_families

from actors.config import RuntimeConfig
from actors.frames import logged_seq
from actors.ray.metrics import RayMetrics
from actors.ray.registry import Runtime
from actors.sessions.session import Ask, SessionKey
from serve_app.limits import NO_LEASE
from serve_app.observability import metrics
from serve_app.ws.turn_tracker import TurnTracker

Samples = dict[str, list[tuple[dict[str, str], float]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Replica:
    """Stands in for an ingress replica: its own Runtime and the ingress's turn accounting."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.runtime = Runtime(config)
        metrics.use_cluster_metrics(RayMetrics())  # as ChatIngress.__init__ does

    @ray.method  # how Ray types `handle.run_turns.remote()` (as in bench/placement.py)
    async def run_turns(self, flow_id: str, chat_ids: list[str]) -> int:
        """Run one turn in each chat; returns the stream frames relayed."""

        async def done(*_args: Any) -> None:
            return None

        tracker = TurnTracker("flow", done)
        streamed = 0
        for chat_id in chat_ids:
            key = SessionKey(flow_id, chat_id)
            first = await self.runtime.start_turn(key, Ask(user_id=1, inputs={"input": "hi"}))
            tracker.started(key, first, NO_LEASE)
            after, closed = first - 1, False
            while not closed:
                batch = await self.runtime.pull(key, 1, after, 10)
                await tracker.observe(key, batch.frames)
                streamed += sum(f["type"] == "stream" for f in batch.frames)
                closed = any(f["type"] == "close" for f in batch.frames)
                after = logged_seq(batch.frames[-1]) if batch.frames else after
        return streamed


def scrape(port: int) -> Samples:
    """The node's metrics agent: samples by name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def total(samples: Samples, name: str) -> float:
    return sum(value for _labels, value in samples.get(name, []))
