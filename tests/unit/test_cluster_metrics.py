"""Cluster metrics without Ray: the injected recorder hears flushes (batch rows, latency, queue
depth), a host's live sessions, and the WebSocket helpers' turns, tokens, errors and open
sockets; the Grafana dashboard queries only metric names raychat defines, and all of them."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray.util.metrics import Counter

from actors.config import SessionConfig
from actors.frames import WireFrame, error_message, frame_text, make_frame
from actors.metrics import NO_METRICS, AppType, TurnOutcome
from actors.ray.metrics import (
    EXPORT_PREFIX,
    SPECS,
    TOKENS_STREAMED,
    _ProcessMetrics,
    exported_names,
)
from actors.sessions.host import SessionHost
from actors.sessions.session import Ask, SessionKey
from actors.storage_actor.actor import StorageActor
from actors.storage_actor.group_commit import GroupCommitter
from serve_app.observability import metrics
from tests.conftest import demo_graph, flow_record
from tests.unit.test_group_commit import FakeDb, rec

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "raychat.json"


class Recorder:
    """A ClusterMetrics that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def turn_started(self, app_type: AppType) -> None:
        self.calls.append(("turn_started", app_type))

    def turn_ended(self, app_type: AppType, outcome: TurnOutcome) -> None:
        self.calls.append(("turn_ended", app_type, outcome))

    def tokens_streamed(self, app_type: AppType, count: int) -> None:
        self.calls.append(("tokens_streamed", app_type, count))

    def turn_error(self, app_type: AppType, code: int) -> None:
        self.calls.append(("turn_error", app_type, code))

    def sockets_open(self, app_type: AppType, count: int) -> None:
        self.calls.append(("sockets_open", app_type, count))

    def live_sessions(self, count: int) -> None:
        self.calls.append(("live_sessions", count))

    def flushed(self, rows: int, seconds: float, queue_depth: int) -> None:
        self.calls.append(("flushed", rows, seconds, queue_depth))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == name]


@pytest.fixture
def cluster() -> Iterator[Recorder]:
    recorder = Recorder()
    metrics.use_cluster_metrics(recorder)
    yield recorder
    metrics.use_cluster_metrics(NO_METRICS)


async def test_every_flush_records_rows_latency_and_queue_depth() -> None:
    recorder, db = Recorder(), FakeDb()
    committer = GroupCommitter(
        db.write, max_rows=1000, max_delay_s=0.02, max_queue=100, metrics=recorder
    )
    await asyncio.gather(*(committer.submit([rec(str(i))]) for i in range(12)))
    flushed = recorder.named("flushed")
    assert len(flushed) == len(db.batches) == len(committer.flushes)
    assert sum(rows for rows, _, _ in flushed) == 12
    assert [seconds for _, seconds, _ in flushed] == [f.seconds for f in committer.flushes]
    assert all(depth >= 0 for _, _, depth in flushed)


async def test_a_failed_flush_records_nothing() -> None:
    recorder, db = Recorder(), FakeDb()
    db.fail_with = RuntimeError("database is down")
    committer = GroupCommitter(db.write, max_rows=10, max_delay_s=0, max_queue=10, metrics=recorder)
    with pytest.raises(RuntimeError):
        await committer.submit([rec("1")])
    assert recorder.named("flushed") == []


async def test_host_reports_its_live_sessions_each_tick(storage: StorageActor) -> None:
    recorder = Recorder()
    flow = flow_record(uuid.uuid4().hex, demo_graph(), user_id=7)
    await storage.put_flow(flow)
    host = SessionHost(SessionConfig(), storage, metrics=recorder)
    for chat in ("a", "b"):
        key = SessionKey(flow.id, chat)
        await host.start_turn(key, Ask(user_id=7, inputs={"input": "hi"}))
        await host._sessions[key].wait_turn()
    await host.summary(limit=1)  # ticks the meter, as the once-a-second loop does
    assert recorder.named("live_sessions")[-1] == (2,)
    assert await host.drop(SessionKey(flow.id, "a"))
    await host.summary(limit=1)
    assert recorder.named("live_sessions")[-1] == (1,)


def test_socket_and_turn_helpers_feed_the_cluster_sink(cluster: Recorder) -> None:
    metrics.ws_connected("flow")
    metrics.ws_connected("flow")
    metrics.turn_started("flow")
    metrics.tokens_streamed("flow", 5)
    metrics.tokens_streamed("flow", 0)  # nothing to count
    metrics.turn_ended("flow", "finished")
    metrics.ws_disconnected("flow")
    assert cluster.named("sockets_open") == [("flow", 1), ("flow", 2), ("flow", 1)]
    assert cluster.named("turn_started") == [("flow",)]
    assert cluster.named("tokens_streamed") == [("flow", 5)]
    assert cluster.named("turn_ended") == [("flow", "finished")]
    metrics.ws_disconnected("flow")


def test_error_frames_count_by_status_code(cluster: Recorder) -> None:
    message = error_message(503, "down", {})
    frame = make_frame("end", "error", flow_id=None, chat_id=None, message=message)
    wire = WireFrame(seq=4, type="end", category="error", text=frame_text(frame))
    metrics.turn_error("assistant", frame)
    metrics.turn_error("flow", wire)
    assert cluster.named("turn_error") == [("assistant", 503), ("flow", 503)]
    sample = metrics.REGISTRY.get_sample_value(
        "raychat_turn_errors_total", {"app_type": "flow", "code": "503"}
    )
    assert sample is not None and sample >= 1


def _queried_names(dashboard: dict[str, Any]) -> list[set[str]]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs, "the dashboard has no queries"
    return [set(re.findall(r"\bray_raychat_\w+", e)) for e in exprs]


def test_dashboard_queries_name_only_raychat_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    per_query = _queried_names(dashboard)
    assert all(per_query), "every query names a raychat metric"
    used = set().union(*per_query)
    assert used <= exported_names(), used - exported_names()
    base = {n.removesuffix("_bucket") for n in used}
    assert {EXPORT_PREFIX + s.name for s in SPECS} <= base  # every metric has a panel
    sources = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert sources == {"${datasource}"}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


class KeptCounter(Counter):
    """A Ray counter (never recorded: no Ray here) that keeps each `inc` it is given."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "kept", ("app_type",))
        self.incs: list[tuple[float, dict[str, str] | None]] = []

    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None:
        self.incs.append((value, tags))


def test_counter_increments_add_up_until_the_next_flush() -> None:
    """Counting costs no Ray record per call: increments of one series are summed in the
    process and reach Ray's counter once per flush (the metrics thread's, every second)."""
    process = _ProcessMetrics()
    kept = KeptCounter("raychat_tokens_streamed_total")
    process.by_name[TOKENS_STREAMED.name] = kept
    for count in (3, 4, 5):
        process.add(TOKENS_STREAMED, count, {"app_type": "flow"})
    process.add(TOKENS_STREAMED, 2, {"app_type": "assistant"})
    assert kept.incs == []
    process.flush()
    assert sorted(kept.incs, key=str) == sorted(
        [(12, {"app_type": "flow"}), (2, {"app_type": "assistant"})], key=str
    )
    process.flush()  # nothing new: nothing recorded
    assert len(kept.incs) == 2
