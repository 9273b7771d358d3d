"""Cluster-wide metrics through Ray's metrics agent (issue 11): real Ray with a fixed
`_metrics_export_port`; turns run by two "replica" actors (each its own process, counting turns
the way the ingress socket does: `TurnTracker` over the frames it relays, `RayMetrics` installed)
on two session hosts; the node's `/metrics` summed over every process must equal the turns run,
and show each host's live sessions with its node id and the storage actor's flushes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.ray.registry import Runtime, host_index
from actors.sessions.session import SessionKey
from tests.conftest import demo_graph, flow_record
from tests.integration.metrics_probe import Replica, free_port, scrape, total

# The agent exports every report interval (set to its 1 s floor here); a few rounds at most.
METRICS_DEADLINE_S = 60.0
TURNS = {"replica-a": 3, "replica-b": 2}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RuntimeConfig, int]]:
    if ray.is_initialized():
        ray.shutdown()  # this module needs its own Ray, with the metrics agent on a known port
    port = free_port()
    ray.init(
        address="local",
        include_dashboard=False,
        log_to_driver=False,
        _metrics_export_port=port,
        _system_config={"metrics_report_interval_ms": 1000},
    )
    db: Path = tmp_path_factory.mktemp("cluster-metrics") / "chat.db"
    storage = StorageConfig(database_url=f"sqlite:///{db}")
    namespace = f"raychat-test-{uuid.uuid4().hex[:8]}"
    sessions = SessionConfig(hosts=2)
    config = RuntimeConfig(
        storage=storage, sessions=sessions, jwt_secret="x" * 40, namespace=namespace
    )
    yield config, port
    ray.shutdown()


def spread_chats(flow_id: str, count: int, hosts: int) -> list[str]:
    """`count` chat ids whose sessions land on every host (rendezvous hashing decides)."""
    while True:
        chats = [uuid.uuid4().hex for _ in range(count)]
        if len({host_index(SessionKey(flow_id, c), hosts) for c in chats}) == hosts:
            return chats


async def test_turns_summed_over_replicas_match_the_turns_run(
    cluster: tuple[RuntimeConfig, int],
) -> None:
    config, port = cluster
    runtime = Runtime(config)
    flow = flow_record(uuid.uuid4().hex, demo_graph(answer_tokens=4))
    await runtime.storage.put_flow(flow)
    turns = sum(TURNS.values())
    chats = spread_chats(flow.id, turns, config.sessions.hosts)
    replicas = {name: ray.remote(Replica).options(name=name).remote(config) for name in TURNS}
    work, start = [], 0
    for name, count in TURNS.items():
        work.append(replicas[name].run_turns.remote(flow.id, chats[start : start + count]))
        start += count
    streamed = sum(await asyncio.gather(*work))
    assert streamed > 0

    def settled(samples: dict[str, list[tuple[dict[str, str], float]]]) -> bool:
        return (
            total(samples, "ray_raychat_turns_ended_total") == turns
            and total(samples, "ray_raychat_tokens_streamed_total") == streamed
            and len(samples.get("ray_raychat_live_sessions", [])) >= 2
            and total(samples, "ray_raychat_storage_batch_rows_count") > 0
        )

    deadline = time.monotonic() + METRICS_DEADLINE_S
    samples = await asyncio.to_thread(scrape, port)
    while not settled(samples) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # the agent answers what the last report carried
        samples = await asyncio.to_thread(scrape, port)

    ended = samples["ray_raychat_turns_ended_total"]
    assert total(samples, "ray_raychat_turns_ended_total") == turns, ended
    assert {labels["outcome"] for labels, _ in ended} == {"finished"}
    assert len({labels["WorkerId"] for labels, _ in ended}) == len(TURNS)  # two processes
    assert total(samples, "ray_raychat_turns_started_total") == turns
    assert total(samples, "ray_raychat_tokens_streamed_total") == streamed
    live = samples["ray_raychat_live_sessions"]
    node_id = ray.get_runtime_context().get_node_id()
    assert {labels["node_id"] for labels, _ in live} == {node_id}
    assert {labels["host"] for labels, _ in live} == {
        "raychat-session-host-0",
        "raychat-session-host-1",
    }
    assert sum(value for _, value in live) == turns  # one chat per turn, none idle yet
    assert total(samples, "ray_raychat_storage_batch_rows_sum") >= 2 * turns  # question+answer
    assert total(samples, "ray_raychat_storage_flush_seconds_count") > 0
    assert "ray_raychat_storage_queue_depth" in samples
