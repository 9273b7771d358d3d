"""raychat on a multi-node Ray cluster on one machine (`ray.cluster_utils.Cluster`: a head and two
workers, each its own raylet and processes), PostgreSQL and Redis real (issue 11).

Session hosts run per eligible node (`RAYCHAT_HOSTS_PER_NODE`, on nodes with the `raychat_host`
resource: the workers, not the head), chats spread over both; a dedicated profile that needs the
`accel` resource lands on the worker that has it. Then a worker is killed (its processes, not a
clean stop) in the middle of turns: the turns on it end with an error within seconds, the other
node's turn is unaffected, the lost chats reactivate on the surviving node with their context,
and no acknowledged row is lost. Last, the storage actor's own node is killed: it restarts on
another node and the writers' retries store each message once.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import ray
from ray.cluster_utils import Cluster

from actors.config import (
    NodePlacement,
    PlacementProfile,
    RuntimeConfig,
    SessionConfig,
    StorageConfig,
)
from actors.errors import ChatServiceError, DuplicateAsk, StorageUnavailable
from actors.frames import RelayFrame, logged_seq
from actors.ray.registry import Runtime
from actors.sessions.placement import placement_of
from actors.sessions.session import Ask, SessionKey
from bench.cluster import SYSTEM_CONFIG as HEALTH_CHECKS
from bench.cluster import lose, scratch_database
from tests.conftest import demo_graph, flow_record
from tests.integration.metrics_probe import Replica, Samples, free_port, scrape, total

pytestmark = pytest.mark.timeout(600)
PG_ADMIN = os.environ.get(
    "RAYCHAT_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("RAYCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOST_RESOURCE = "raychat_host"
STORAGE_RESOURCE = "test_storage"  # RAYCHAT_STORAGE_NODE_RESOURCE: where the storage actor runs
# Ray's shortened node health check (bench/cluster.py), and each node's metrics agent exporting
# every second.
SYSTEM_CONFIG = {**HEALTH_CHECKS, "metrics_report_interval_ms": 1000}
METRICS_DEADLINE_S = 60.0
LOST_TURN_DEADLINE_S = 20.0  # a turn on a lost node must end well inside this


@dataclass
class MultiNode:
    cluster: Cluster
    runtime: Runtime
    workers: list[Any]  # ray._private.node.Node of each worker (untyped in Ray)
    database_url: str
    config: RuntimeConfig
    metrics_ports: dict[str, int]  # each node's metrics agent, by node id


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with scratch_database(PG_ADMIN, "raychat_mn") as url:  # contract tests share `raychat_test`
        yield url


@pytest.fixture(scope="module")
def multinode(database_url: str) -> Iterator[MultiNode]:
    if ray.is_initialized():
        ray.shutdown()
    ports = [free_port() for _ in range(3)]
    head_args = {
        "num_cpus": 1,
        "include_dashboard": False,
        "_system_config": SYSTEM_CONFIG,
        "metrics_export_port": ports[0],
    }
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    try:
        workers = [
            cluster.add_node(
                num_cpus=1,
                resources={HOST_RESOURCE: 1, STORAGE_RESOURCE: 1},
                metrics_export_port=ports[1],
            ),
            cluster.add_node(
                num_cpus=1, resources={HOST_RESOURCE: 1, "accel": 1}, metrics_export_port=ports[2]
            ),
        ]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        config = RuntimeConfig(
            storage=StorageConfig(database_url=database_url),
            sessions=SessionConfig(host_call_timeout_s=20),
            jwt_secret="x" * 40,
            redis_url=REDIS_URL,
            namespace=f"raychat-test-{uuid.uuid4().hex[:8]}",
            placements={"accel": PlacementProfile(resources={"accel": 1}, max_actors=2)},
            dedicated_start_timeout_s=30,
            nodes=NodePlacement(
                hosts_per_node=1,
                node_resource=HOST_RESOURCE,
                refresh_s=1,
                storage_resource=STORAGE_RESOURCE,  # the storage actor on a worker, to lose it
            ),
        )
        head: Any = cluster.head_node  # Ray annotates it as None until it exists
        nodes = [head, *workers]
        agents = {n.node_id: port for n, port in zip(nodes, ports, strict=True)}
        yield MultiNode(cluster, Runtime(config), workers, database_url, config, agents)
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]  # Ray leaves it unannotated


async def _flow(runtime: Runtime, **graph: Any) -> str:
    flow = flow_record(uuid.uuid4().hex, {**demo_graph(**graph.pop("model", {})), **graph})
    await runtime.storage.put_flow(flow)
    return flow.id


async def turn(
    runtime: Runtime,
    key: SessionKey,
    text: str,
    deadline_s: float = 60,
    client_msg_id: str | None = None,
) -> list[RelayFrame]:
    """Ask and pull the turn's frames until its `close` (bounded: a turn that never closes, or
    a session that is gone before it did, fails the test with what was seen)."""
    ask = Ask(user_id=1, inputs={"input": text}, client_msg_id=client_msg_id)
    after = await runtime.start_turn(key, ask) - 1
    frames: list[RelayFrame] = []
    async with asyncio.timeout(deadline_s):
        while not frames or frames[-1]["type"] != "close":
            batch = await runtime.pull(key, 1, after, 10)
            if not (batch.live or batch.frames):
                raise TurnLost(f"session gone mid-turn after {frames}")
            frames += batch.frames
            after = logged_seq(frames[-1]) if frames else after
    return frames


class TurnLost(Exception):
    """The chat's session was gone before its turn closed (its host died with it)."""


async def ask_until_stored(
    runtime: Runtime, key: SessionKey, text: str, deadline_s: float = 90
) -> list[RelayFrame] | None:
    """`turn`, repeated as a client does on a retryable failure (503 while storage restarts,
    or the turn lost with its host), under one client_msg_id. None when the session says the
    question was already stored (DuplicateAsk: its turn was lost after the question's commit)."""
    msg_id = uuid.uuid4().hex
    async with asyncio.timeout(deadline_s):
        while True:
            try:
                return await turn(runtime, key, text, client_msg_id=msg_id)
            except DuplicateAsk:
                return None
            except (StorageUnavailable, ChatServiceError, TurnLost):
                await asyncio.sleep(0.5)  # a client's back-off, not ordering


def acknowledged(frames: list[RelayFrame]) -> set[int]:
    """The message ids the turn sent (each only after its row was committed)."""
    return {int(f["message_id"]) for f in frames if f["type"] == "end" and f["message_id"]}


async def node_of(runtime: Runtime, key: SessionKey) -> str:
    host = await runtime.host_for(key)
    node: str = await host.__ray_call__.remote(
        lambda _self: ray.get_runtime_context().get_node_id()
    )
    return node


async def test_hosts_run_per_eligible_node_and_chats_spread_over_both(multinode: MultiNode) -> None:
    runtime = multinode.runtime
    flow_id = await _flow(runtime)
    keys = [SessionKey(flow_id, uuid.uuid4().hex) for _ in range(8)]
    for key in keys:
        assert (await turn(runtime, key, "hi"))[-2]["message"] == "echo(0): hi"
    workers = {w.node_id for w in multinode.workers}
    assert {await node_of(runtime, k) for k in keys} == workers  # both, never the head
    reports = await runtime.host_reports(10)
    assert len(reports) == 2 and all(r.summary is not None for r in reports)
    nodes = {r.summary.node["node_id"] for r in reports if r.summary is not None}
    assert nodes == workers
    assert sum(r.summary.live for r in reports if r.summary is not None) == len(keys)
    assert sorted(await runtime.live_sessions()) == [0, 1]


async def test_metrics_summed_over_every_nodes_agent_match_the_turns_run(
    multinode: MultiNode,
) -> None:
    """Two stand-in replicas (their own processes, counting turns as the socket does) run turns
    on hosts on both workers; every node's Ray metrics agent exports what its processes
    recorded, and the sums over the agents are the cluster's numbers."""
    runtime = multinode.runtime
    flow = flow_record(uuid.uuid4().hex, demo_graph(answer_tokens=4))
    await runtime.storage.put_flow(flow)
    workers = {w.node_id for w in multinode.workers}
    chats: dict[str, list[str]] = {n: [] for n in workers}
    while min(len(c) for c in chats.values()) < 2:
        chat = uuid.uuid4().hex
        chats[await node_of(runtime, SessionKey(flow.id, chat))].append(chat)
    first, second = (c[:2] for c in chats.values())
    replicas = [ray.remote(Replica).options(num_cpus=0).remote(multinode.config) for _ in "ab"]
    work = [replicas[0].run_turns.remote(flow.id, first + second[:1])]
    work.append(replicas[1].run_turns.remote(flow.id, second[1:]))
    streamed = sum(await asyncio.gather(*work))
    turns = len(first) + len(second)

    def read() -> dict[str, Samples]:
        return {node: scrape(port) for node, port in multinode.metrics_ports.items()}

    def summed(by_node: dict[str, Samples], name: str) -> float:
        return sum(total(samples, name) for samples in by_node.values())

    async def settled(by_node: dict[str, Samples]) -> bool:
        live = sum((await runtime.live_sessions()).values())
        return (
            summed(by_node, "ray_raychat_turns_ended_total") == turns
            and summed(by_node, "ray_raychat_tokens_streamed_total") == streamed
            and summed(by_node, "ray_raychat_live_sessions") == live
        )

    deadline = time.monotonic() + METRICS_DEADLINE_S
    by_node = await asyncio.to_thread(read)
    while not await settled(by_node) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)  # an agent answers what its last report carried
        by_node = await asyncio.to_thread(read)
    assert summed(by_node, "ray_raychat_turns_ended_total") == turns
    assert summed(by_node, "ray_raychat_turns_started_total") == turns
    assert summed(by_node, "ray_raychat_tokens_streamed_total") == streamed > 0
    # Each worker's agent reports its own host's live sessions, labelled with its node.
    for node in workers:
        live = by_node[node].get("ray_raychat_live_sessions", [])
        assert live and {labels["node_id"] for labels, _ in live} == {node}
    (head,) = set(multinode.metrics_ports) - workers
    assert "ray_raychat_live_sessions" not in by_node[head]  # no session host on the head
    assert summed(by_node, "ray_raychat_storage_batch_rows_count") > 0


async def test_a_dedicated_profile_lands_on_the_node_with_its_resource(
    multinode: MultiNode,
) -> None:
    runtime = multinode.runtime
    graph = {"placement": "dedicated", "profile": "accel"}
    flow_id = await _flow(runtime, **graph)
    key = SessionKey(flow_id, uuid.uuid4().hex, dedicated=placement_of({**demo_graph(), **graph}))
    assert (await turn(runtime, key, "gpu?"))[-2]["message"] == "echo(0): gpu?"
    assert await node_of(runtime, key) == multinode.workers[1].node_id
    await runtime.drop_if_live(key)


@dataclass
class Watched:
    key: SessionKey
    frames: list[RelayFrame]
    error: BaseException | None = None
    ended_at: float | None = None


async def watch_turn(runtime: Runtime, key: SessionKey, after: int) -> Watched:
    """Relay `key`'s frames through the replica's frame channel (as a socket does) until the
    turn closes, the subscription fails or it ends."""
    seen = Watched(key, [])
    sub = await runtime.subscribe(key, 1, after)
    try:
        while not seen.frames or seen.frames[-1]["type"] != "close":
            try:
                batch = await sub.next()
            except ChatServiceError as exc:
                seen.error = exc
                break
            if not batch.live and not batch.frames:
                break
            seen.frames += batch.frames
    finally:
        sub.close()
        seen.ended_at = time.monotonic()
    return seen


async def stored_messages(database_url: str, chat_id: str) -> list[tuple[int, str, str]]:
    """The chat's stored rows as (id, category, text): a question's text is its `input`."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id, category, message FROM chatmessage WHERE chat_id = $1 ORDER BY id", chat_id
        )
    finally:
        await conn.close()
    return [(int(r[0]), str(r[1]), _text(str(r[1]), str(r[2]))) for r in rows]


def _text(category: str, message: str) -> str:
    return str(json.loads(message).get("input")) if category == "question" else message


async def test_a_lost_node_ends_its_turns_and_its_chats_reactivate_elsewhere(
    multinode: MultiNode,
) -> None:
    runtime = multinode.runtime
    flow_id = await _flow(runtime, model={"tokens_per_second": 4})
    by_node: dict[str, SessionKey] = {}
    while len(by_node) < 2:
        key = SessionKey(flow_id, uuid.uuid4().hex)
        by_node.setdefault(await node_of(runtime, key), key)
    lost_node = multinode.workers[1]  # not the storage actor's node (that is the next test)
    doomed, survivor = by_node[lost_node.node_id], by_node[multinode.workers[0].node_id]
    for key in (doomed, survivor):  # one finished, acknowledged turn each first
        frames = await turn(runtime, key, "one")
        assert frames[-2]["message"] == "echo(0): one"
    long_text = " ".join(["word"] * 40)  # 40 tokens at 4/s: ~10 s
    starts = {
        k: await runtime.start_turn(k, Ask(user_id=1, inputs={"input": long_text})) - 1
        for k in (doomed, survivor)
    }
    watchers = {k: asyncio.create_task(watch_turn(runtime, k, s)) for k, s in starts.items()}
    await _streaming(runtime, doomed, starts[doomed])
    killed_at = time.monotonic()
    lose(multinode.cluster, lost_node)
    lost = await asyncio.wait_for(watchers[doomed], LOST_TURN_DEADLINE_S)
    assert lost.error is not None or not any(f["type"] == "close" for f in lost.frames)
    assert lost.ended_at is not None and lost.ended_at - killed_at < LOST_TURN_DEADLINE_S
    kept = await asyncio.wait_for(watchers[survivor], 60)
    assert kept.error is None and kept.frames[-1]["type"] == "close"
    assert any(f["type"] == "end" and f["message"] for f in kept.frames)
    # The lost chat reactivates on the surviving node with its context rebuilt from storage.
    reactivated_at = time.monotonic()
    again = await turn(runtime, doomed, "again")
    print(
        f"\nlost turn ended {lost.ended_at - killed_at:.2f} s after the kill; "
        f"reactivation turn {time.monotonic() - reactivated_at:.2f} s"
    )
    assert await node_of(runtime, doomed) == multinode.workers[0].node_id
    # The echo model says how many context messages it got: the first turn's, from storage.
    counted = int(again[-2]["message"].removeprefix("echo(").split(")")[0])
    assert counted >= 2 and again[-2]["message"].endswith("): again")
    history = [(c, m) for _i, c, m in await stored_messages(multinode.database_url, doomed.chat_id)]
    assert history[:2] == [("question", "one"), ("answer", "echo(0): one")]
    assert history.count(("question", "again")) == 1


async def _streaming(runtime: Runtime, key: SessionKey, after: int) -> None:
    """Return once the turn of `key` has streamed its first token."""
    while True:
        batch = await runtime.pull(key, 1, after, 10)
        if any(f["type"] == "stream" for f in batch.frames):
            return
        after = logged_seq(batch.frames[-1]) if batch.frames else after


async def test_losing_the_storage_actors_node_loses_no_acknowledged_row(
    multinode: MultiNode,
) -> None:
    runtime = multinode.runtime
    flow_id = await _flow(runtime)
    keys = [SessionKey(flow_id, uuid.uuid4().hex) for _ in range(4)]
    acked: dict[SessionKey, set[int]] = {}
    for key in keys:
        acked[key] = acknowledged(await turn(runtime, key, "before"))
    storage_node = multinode.workers[0]
    assert await _storage_node(runtime) == storage_node.node_id
    # A worker with the host resource joins, so sessions have a node after the loss.
    multinode.cluster.add_node(num_cpus=1, resources={HOST_RESOURCE: 1, STORAGE_RESOURCE: 1})
    multinode.cluster.wait_for_nodes()
    lose(multinode.cluster, storage_node)
    answered = 0
    for key in keys:
        frames = await ask_until_stored(runtime, key, "after")
        if frames is not None:
            assert frames[-1]["type"] == "close" and frames[-2]["message"].endswith(": after")
            acked[key] |= acknowledged(frames)
            answered += 1
    assert answered >= len(keys) - 1  # at most the chat whose turn died with its host
    assert await _storage_node(runtime) not in (storage_node.node_id, None)
    for key in keys:
        rows = await stored_messages(multinode.database_url, key.chat_id)
        assert acked[key] <= {i for i, _c, _m in rows}  # nothing acknowledged is lost
        history = [(c, m) for _i, c, m in rows]
        assert history.count(("question", "before")) == 1
        assert history.count(("question", "after")) == 1  # retries stored it once


async def _storage_node(runtime: Runtime) -> str:
    """The node the storage actor runs on (asked of the actor itself)."""
    node: str = await runtime.storage_handle.__ray_call__.remote(
        lambda _: ray.get_runtime_context().get_node_id()
    )
    return node
