"""Sessions on real Ray actors (no Serve): host restart keeps context; dedicated placement."""

from __future__ import annotations

import asyncio
import os
import select
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.events import Frame
from actors.placement import placement_of
from actors.registry import DEDICATED_PREFIX, Runtime
from actors.session import Ask, SessionKey
from tests.conftest import demo_graph, flow_record


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    db: Path = tmp_path_factory.mktemp("ray-sessions") / "chat.db"
    config = RuntimeConfig(
        storage=StorageConfig(database_url=f"sqlite:///{db}"),
        sessions=SessionConfig(hosts=2),
        jwt_secret="x" * 40,
        namespace=f"raychat-test-{uuid.uuid4().hex[:8]}",
    )
    yield Runtime(config)
    ray.shutdown()  # each module gets its own cluster; none lingers under later tests


async def turn(runtime: Runtime, key: SessionKey, text: str) -> list[Frame]:
    after = await runtime.start_turn(key, Ask(user_id=1, inputs={"input": text})) - 1
    frames: list[Frame] = []
    while not frames or frames[-1]["type"] != "close":
        batch = await runtime.pull(key, 1, after, 10)
        frames += batch.frames
        after = frames[-1]["seq"] if frames else after
    return frames


async def test_context_survives_killing_the_host(runtime: Runtime) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph())
    await runtime.storage.put_flow(flow)
    key = SessionKey(flow.id, uuid.uuid4().hex)
    assert (await turn(runtime, key, "before"))[-2]["message"] == "echo(0): before"
    host = runtime.host_for(key)
    old_pid = await host.__ray_call__.remote(lambda _self: os.getpid())
    exited = os.pidfd_open(old_pid)
    ray.kill(host, no_restart=False)  # the process dies; Ray restarts the actor
    assert select.select([exited], [], [], 30)[0], "the host process did not exit"
    # Calls wait for the restarted incarnation (max_task_retries), where the session is gone...
    assert (await runtime.pull(key, 1, 0, 1)).live is False
    frames = await turn(runtime, key, "after")  # ...and comes back with its context
    assert await host.__ray_call__.remote(lambda _self: os.getpid()) != old_pid
    assert frames[-2]["message"] == "echo(2): after"  # context rebuilt from storage


async def test_dedicated_flow_runs_in_its_own_actor(runtime: Runtime) -> None:
    graph: dict[str, Any] = {**demo_graph(), "placement": "dedicated", "resources": {"CPU": 0.1}}
    flow = flow_record(uuid.uuid4().hex, graph)
    await runtime.storage.put_flow(flow)
    key = SessionKey(flow.id, uuid.uuid4().hex, dedicated=placement_of(graph))
    frames = await turn(runtime, key, "alone")
    assert frames[-2]["message"] == "echo(0): alone"
    names = {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == runtime.config.namespace
    }
    assert any(n.startswith(DEDICATED_PREFIX) for n in names)
    shared = SessionKey(flow.id, key.chat_id)  # same identity, shared placement
    assert runtime.host_for(shared) is not runtime.host_for(key)


@pytest.fixture(scope="module")
def redis_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """A second runtime (own namespace, own hosts) with the Redis frame archive."""
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis is not reachable: {exc}")
    config = runtime.config.model_copy(
        update={
            "redis_url": "redis://127.0.0.1:6379/0",
            "namespace": f"raychat-test-{uuid.uuid4().hex[:8]}",
        }
    )
    yield Runtime(config)
    for name in ray.util.list_named_actors(all_namespaces=True):
        if name["namespace"] == config.namespace:
            ray.kill(ray.get_actor(name["name"], namespace=config.namespace))


async def test_frames_outlive_a_host_restart_in_the_archive(redis_runtime: Runtime) -> None:
    runtime = redis_runtime
    flow = flow_record(uuid.uuid4().hex, demo_graph())
    await runtime.storage.put_flow(flow)
    key = SessionKey(flow.id, uuid.uuid4().hex)
    before = await turn(runtime, key, "remember the frames")
    # The archive is written in the background: wait (bounded) until it holds the whole turn,
    # so the kill below tests recovery, not a race with the archiver.
    for _ in range(200):
        archived = await runtime.archived_frames(key, before[0]["seq"], before[-1]["seq"])
        if archived == before:
            break
        await asyncio.sleep(0.01)
    host = runtime.host_for(key)
    old_pid = await host.__ray_call__.remote(lambda _self: os.getpid())
    exited = os.pidfd_open(old_pid)
    ray.kill(host, no_restart=False)
    assert select.select([exited], [], [], 30)[0], "the host process did not exit"
    point = await runtime.watch(key, 1)  # re-activates the session on the new incarnation
    assert point.oldest_seq > before[-1]["seq"]  # seq continues, never repeats
    archived = await runtime.archived_frames(key, before[0]["seq"], point.oldest_seq - 1)
    assert archived == before  # a client resuming from before the restart gets them all
