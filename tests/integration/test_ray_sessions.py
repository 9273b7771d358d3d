"""Sessions on real Ray actors (no Serve): host restart keeps context; dedicated placement on
operator profiles (own actor, released on drop, capped per profile, bounded start)."""

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

from actors.config import (
    PlacementProfile,
    ProviderConfig,
    RuntimeConfig,
    SessionConfig,
    StorageConfig,
)
from actors.errors import ChatServiceError, RateLimited
from actors.frames import RelayFrame, logged_seq
from actors.ray.registry import DEDICATED_PREFIX, Runtime, dedicated_name
from actors.sessions.placement import placement_of
from actors.sessions.session import Ask, SessionKey
from tests.conftest import demo_graph, flow_record
from tests.integration.fake_providers import FakeOpenAI


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    db: Path = tmp_path_factory.mktemp("ray-sessions") / "chat.db"
    config = RuntimeConfig(
        storage=StorageConfig(database_url=f"sqlite:///{db}"),
        sessions=SessionConfig(hosts=2),
        jwt_secret="x" * 40,
        namespace=f"raychat-test-{uuid.uuid4().hex[:8]}",
        placements={
            "tiny": PlacementProfile(resources={"CPU": 0.1}, max_actors=0),
            "one": PlacementProfile(resources={"CPU": 0}, max_actors=1),
            "huge": PlacementProfile(resources={"GPU": 1000}, max_actors=1),
        },
        dedicated_start_timeout_s=8,  # a feasible start on a loaded 2-core box can take 3 s
    )
    yield Runtime(config)
    ray.shutdown()  # each module gets its own cluster; none lingers under later tests


async def turn(runtime: Runtime, key: SessionKey, text: str) -> list[RelayFrame]:
    after = await runtime.start_turn(key, Ask(user_id=1, inputs={"input": text})) - 1
    frames: list[RelayFrame] = []
    while not frames or frames[-1]["type"] != "close":
        batch = await runtime.pull(key, 1, after, 10)
        frames += batch.frames
        after = logged_seq(frames[-1]) if frames else after
    return frames


async def test_context_survives_killing_the_host(runtime: Runtime) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph())
    await runtime.storage.put_flow(flow)
    key = SessionKey(flow.id, uuid.uuid4().hex)
    assert (await turn(runtime, key, "before"))[-2]["message"] == "echo(0): before"
    host = await runtime.host_for(key)
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
    graph: dict[str, Any] = {**demo_graph(), "placement": "dedicated", "profile": "tiny"}
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
    assert await runtime.host_for(shared) is not await runtime.host_for(key)


def named(runtime: Runtime) -> set[str]:
    actors = ray.util.list_named_actors(all_namespaces=True)
    return {a["name"] for a in actors if a["namespace"] == runtime.config.namespace}


async def gone(runtime: Runtime, name: str, deadline_s: float = 30) -> bool:
    """Poll (bounded) until the named actor no longer exists."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while name in named(runtime):
        if loop.time() > end:
            return False
        await asyncio.sleep(0.05)
    return True


async def dedicated_key(runtime: Runtime, profile: str) -> SessionKey:
    graph: dict[str, Any] = {**demo_graph(), "placement": "dedicated", "profile": profile}
    flow = flow_record(uuid.uuid4().hex, graph)
    await runtime.storage.put_flow(flow)
    return SessionKey(flow.id, uuid.uuid4().hex, dedicated=placement_of(graph))


async def test_dropping_a_dedicated_chat_ends_its_actor(runtime: Runtime) -> None:
    key = await dedicated_key(runtime, "tiny")
    assert (await turn(runtime, key, "hi"))[-2]["message"] == "echo(0): hi"
    assert dedicated_name(key) in named(runtime)
    await runtime.drop_if_live(key)  # what deleting the chat or its flow does
    assert await gone(runtime, dedicated_name(key)), "the dedicated actor outlived its chat"
    assert (await runtime.pull(key, 1, 0, 1)).live is False  # and pulling does not recreate it
    assert dedicated_name(key) not in named(runtime)
    # The chat used again: a new dedicated actor. When it exits on its own (as after idle
    # passivation), this replica's cached handle is dead; the next call replaces it once.
    assert (await turn(runtime, key, "again"))[-2]["message"] == "echo(2): again"
    ray.kill(await runtime.host_for(key), no_restart=True)
    assert await gone(runtime, dedicated_name(key))
    assert (await turn(runtime, key, "and again"))[-2]["message"] == "echo(4): and again"
    await runtime.drop_if_live(key)
    assert await gone(runtime, dedicated_name(key))


async def test_a_profile_caps_its_live_actors(runtime: Runtime) -> None:
    first, second = await dedicated_key(runtime, "one"), await dedicated_key(runtime, "one")
    await runtime.watch(first, 1)
    with pytest.raises(RateLimited, match="placement profile 'one' is full"):
        await runtime.watch(second, 1)
    await runtime.drop_if_live(first)
    assert await gone(runtime, dedicated_name(first))
    await runtime.watch(second, 1)  # the slot is free again
    await runtime.drop_if_live(second)


async def test_an_infeasible_profile_fails_clearly_instead_of_hanging(runtime: Runtime) -> None:
    key = await dedicated_key(runtime, "huge")
    with pytest.raises(ChatServiceError, match="did not start within 8 s"):
        await asyncio.wait_for(runtime.watch(key, 1), 30)
    # The pending actor was removed: it holds no slot of its profile and no cluster request.
    assert await gone(runtime, dedicated_name(key))


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
        archived = await runtime.archived_frames(key, logged_seq(before[0]), logged_seq(before[-1]))
        if archived == before:
            break
        await asyncio.sleep(0.01)
    host = await runtime.host_for(key)
    old_pid = await host.__ray_call__.remote(lambda _self: os.getpid())
    exited = os.pidfd_open(old_pid)
    ray.kill(host, no_restart=False)
    assert select.select([exited], [], [], 30)[0], "the host process did not exit"
    point = await runtime.watch(key, 1)  # re-activates the session on the new incarnation
    assert point.oldest_seq > before[-1]["seq"]  # seq continues, never repeats
    archived = await runtime.archived_frames(key, before[0]["seq"], point.oldest_seq - 1)
    assert archived == before  # a client resuming from before the restart gets them all


async def test_session_hosts_use_the_configured_provider(runtime: Runtime) -> None:
    # RAYCHAT_PROVIDERS travels in the RuntimeConfig to the host processes: a flow naming the
    # provider reaches the operator's (here: a fake) server, with no URL in the graph.
    with FakeOpenAI().running() as server:
        base = f"http://127.0.0.1:{server.port}/v1"
        fake = ProviderConfig(kind="openai", base_url=base, models=("fake-gpt",))
        sessions = runtime.config.sessions.model_copy(update={"providers": {"fake": fake}})
        namespace = f"raychat-test-{uuid.uuid4().hex[:8]}"
        config = runtime.config.model_copy(update={"sessions": sessions, "namespace": namespace})
        other = Runtime(config)
        try:
            graph = demo_graph()
            graph["nodes"][3]["params"] = {"provider": "fake", "model": "fake-gpt"}
            flow = flow_record(uuid.uuid4().hex, graph)
            await other.storage.put_flow(flow)
            frames = await turn(other, SessionKey(flow.id, uuid.uuid4().hex), "hello")
            assert frames[-2]["message"] == "ok"
            [request] = server.requests
            assert request.path == "/v1/chat/completions" and request.body["model"] == "fake-gpt"
            assert request.headers["Authorization"] == "Bearer not-set"  # no key variable named
        finally:
            for actor in ray.util.list_named_actors(all_namespaces=True):
                if actor["namespace"] == namespace:
                    ray.kill(ray.get_actor(actor["name"], namespace=namespace))
