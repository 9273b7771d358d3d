"""Frame archive on the real Redis (127.0.0.1:6379): resume and seq continuity across session
incarnations; degraded mode when Redis is unreachable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from actors.config import SessionConfig
from actors.frames import Frame, make_frame
from actors.sessions.frame_archiver import FrameArchiver
from actors.sessions.session import Ask, SessionActor, SessionKey
from actors.storage_actor.actor import StorageActor
from storage.redis_frames import RedisFrameArchive
from tests.conftest import demo_graph, flow_record

REDIS_URL = "redis://127.0.0.1:6379/0"
FLOW = "a" * 32


@pytest.fixture
async def archive() -> AsyncIterator[RedisFrameArchive]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        await client.aclose()
    store = RedisFrameArchive(REDIS_URL, ttl_s=600)
    yield store
    await store.close()


def frame(seq: int) -> Frame:
    f = make_frame("stream", "processing", flow_id="f", chat_id="c", message=str(seq))
    f["seq"] = seq
    return f


async def test_append_read_trim(archive: RedisFrameArchive) -> None:
    chat = uuid.uuid4().hex
    assert await archive.last_seq(chat) == 0
    await archive.append({chat: [frame(s) for s in range(1, 6)]}, {})
    assert await archive.last_seq(chat) == 5
    assert [f["seq"] for f in await archive.read(chat, 2, 4)] == [2, 3, 4]
    await archive.append({}, {chat: 4})
    assert [f["seq"] for f in await archive.read(chat, 1, 10)] == [4, 5]
    await archive.delete(chat)


async def test_session_seq_continues_from_the_archive(
    archive: RedisFrameArchive, storage: StorageActor
) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    key = SessionKey(FLOW, uuid.uuid4().hex)
    archiver = FrameArchiver(archive)
    first = SessionActor(key, storage, SessionConfig(), archiver)
    await first.activate()
    await first.admit(1)
    start = first.start_turn(Ask(user_id=1, inputs={"input": "hi"}))
    await first.wait_turn()
    await archiver.flush()
    old = first.frames.read_after(start - 1)
    assert [f["seq"] for f in await archive.read(key.text, 1, 10_000)] == [
        f["seq"] for f in old
    ]  # everything streamed is archived, in order
    second = SessionActor(key, storage, SessionConfig(), FrameArchiver(archive))
    await second.activate()  # a new incarnation (host restart): numbering continues
    assert second.frames.last_seq == old[-1]["seq"]
    await archive.delete(key.text)


async def test_unreachable_redis_degrades_to_local_frames(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    archiver = FrameArchiver(RedisFrameArchive("redis://127.0.0.1:1/0"))
    session = SessionActor(SessionKey(FLOW, uuid.uuid4().hex), storage, SessionConfig(), archiver)
    await session.activate()
    await session.admit(1)
    start = session.start_turn(Ask(user_id=1, inputs={"input": "still works"}))
    await session.wait_turn()
    await archiver.flush()
    assert session.frames.read_after(start - 1)[-2]["message"] == "echo(0): still works"
    assert archiver.failures >= 1
