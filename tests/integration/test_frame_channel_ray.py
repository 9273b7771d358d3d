"""The frame channel on real Ray actors (no Serve, issue 9): one long-poll per (replica, host)
carries many chats; idle chats cause no Ray calls; a host killed mid-turn ends its chats'
subscriptions (an error, then `live=False`) and the next subscription works on the restarted
host."""

from __future__ import annotations

import asyncio
import os
import select
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.errors import ChatServiceError
from actors.frames import RelayFrame
from actors.ray.registry import Runtime
from actors.sessions.channel import Subscription
from actors.sessions.session import Ask, SessionKey
from tests.conftest import demo_graph, flow_record


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    db: Path = tmp_path_factory.mktemp("frame-channel") / "chat.db"
    config = RuntimeConfig(
        storage=StorageConfig(database_url=f"sqlite:///{db}"),
        sessions=SessionConfig(hosts=1, pull_timeout_s=1.0),
        jwt_secret="x" * 40,
        namespace=f"raychat-test-{uuid.uuid4().hex[:8]}",
    )
    yield Runtime(config)
    ray.shutdown()


async def until_close(sub: Subscription) -> list[RelayFrame]:
    frames: list[RelayFrame] = []
    async with asyncio.timeout(30):
        while not frames or frames[-1]["type"] != "close":
            frames += (await sub.next()).frames
    return frames


async def test_many_chats_one_channel_and_idle_chats_cost_no_calls(runtime: Runtime) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph(tokens_per_second=200, answer_tokens=30))
    await runtime.storage.put_flow(flow)
    keys = [SessionKey(flow.id, uuid.uuid4().hex) for _ in range(20)]
    subs = []
    for key in keys:
        point = await runtime.watch(key, 1)
        subs.append(await runtime.subscribe(key, 1, point.newest_seq))
    firsts = [await runtime.start_turn(key, Ask(user_id=1, inputs={"input": "x"})) for key in keys]
    polls_before = runtime.channel_polls()
    results = await asyncio.gather(*(until_close(s) for s in subs))
    for frames, first in zip(results, firsts, strict=True):
        assert [f["seq"] for f in frames] == list(range(first, first + len(frames)))
    turn_polls = runtime.channel_polls() - polls_before
    assert turn_polls < sum(len(f) for f in results) / 4
    idle_from = runtime.channel_polls()
    await asyncio.sleep(2.5)
    # 20 idle chats, pull timeout 1 s: the one channel re-polls ~2-3 times, not 20x that.
    assert runtime.channel_polls() - idle_from <= 4
    for sub in subs:
        sub.close()


async def test_a_host_killed_mid_turn_ends_the_subscription(runtime: Runtime) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph(tokens_per_second=20, answer_tokens=400))
    await runtime.storage.put_flow(flow)
    key = SessionKey(flow.id, uuid.uuid4().hex)
    point = await runtime.watch(key, 1)
    sub = await runtime.subscribe(key, 1, point.newest_seq)
    await runtime.start_turn(key, Ask(user_id=1, inputs={"input": "long"}))
    async with asyncio.timeout(30):
        while not any(f["type"] == "stream" for f in (await sub.next()).frames):
            pass
    host = await runtime.host_for(key)
    old_pid = await host.__ray_call__.remote(lambda _self: os.getpid())
    exited = os.pidfd_open(old_pid)
    ray.kill(host, no_restart=False)
    assert select.select([exited], [], [], 30)[0], "the host process did not exit"
    ended = False
    async with asyncio.timeout(60):
        while not ended:
            try:
                batch = await sub.next()
            except ChatServiceError:
                continue  # the poll in flight failed; the channel resets on the new host
            ended = not batch.live
    sub.close()
    # The restarted host serves a new subscription of the same chat.
    point = await runtime.watch(key, 1)
    again = await runtime.subscribe(key, 1, point.newest_seq)
    first = await runtime.start_turn(key, Ask(user_id=1, inputs={"input": "short"}))
    assert first > 0
    frames: list[RelayFrame] = []
    async with asyncio.timeout(60):
        while not any(f["type"] == "stream" for f in frames):
            frames += (await again.next()).frames
    again.close()
