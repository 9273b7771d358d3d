"""A session host's monitor summary without Ray: sessions with app, owner, state, turns and idle
time (bounded, most recently used first), and the activity window counting turns, streamed
tokens and error frames from the sessions' frame logs."""

from __future__ import annotations

import uuid

from actors.config import SessionConfig
from actors.frames import make_frame
from actors.sessions.activity import BUCKET_S, ActivityMeter, Metered
from actors.sessions.frame_log import FrameLog
from actors.sessions.host import SessionHost
from actors.sessions.session import Ask, SessionKey
from actors.storage_actor.actor import StorageActor
from tests.conftest import demo_graph, flow_record

OWNER = 7


async def _turn(host: SessionHost, key: SessionKey, text: str) -> None:
    await host.start_turn(key, Ask(user_id=OWNER, inputs={"input": text}))
    session = host._sessions[key]
    await session.wait_turn()


async def test_summary_lists_sessions_and_counts_turns_and_tokens(storage: StorageActor) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph(answer_tokens=12), user_id=OWNER)
    await storage.put_flow(flow)
    host = SessionHost(SessionConfig(), storage)
    one, two = SessionKey(flow.id, "chat-1"), SessionKey(flow.id, "chat-2")
    await _turn(host, one, "hello")
    await _turn(host, one, "again")
    await _turn(host, two, "other")

    found = await host.summary(limit=10)

    assert found.live == 2
    assert [s.chat_id for s in found.sessions] == ["chat-2", "chat-1"]  # newest use first
    first = found.sessions[1]
    assert (first.flow_id, first.kind, first.user_id, first.turns) == (flow.id, "flow", OWNER, 2)
    assert first.app_name == "test flow"
    assert first.state == "waiting_object" and first.idle_s >= 0
    assert sum(b.turns for b in found.buckets) == 3
    streamed = sum(
        f["type"] == "stream" for k in (one, two) for f in host._sessions[k].frames.read_after(0)
    )
    assert sum(b.tokens for b in found.buckets) == streamed > 0
    assert found.errors == []


async def test_summary_is_bounded_but_counts_every_session(storage: StorageActor) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph(), user_id=OWNER)
    await storage.put_flow(flow)
    host = SessionHost(SessionConfig(), storage)
    for i in range(5):
        await host.watch(SessionKey(flow.id, f"chat-{i}"), OWNER)
    found = await host.summary(limit=2)
    assert found.live == 5 and len(found.sessions) == 2
    assert (await host.summary(limit=0)).sessions == []


def test_meter_counts_only_new_frames_and_errors() -> None:
    now = [1000.0]
    meter = ActivityMeter(clock=lambda: now[0])
    log = FrameLog()

    class Held:
        frames = log

    held: dict[str, Metered] = {"f:c": Held()}
    log.append(make_frame("begin", "system", flow_id="f", chat_id="c"))
    log.append(make_frame("stream", "processing", flow_id="f", chat_id="c"))
    meter.tick(held)
    meter.tick(held)  # nothing new: nothing counted twice
    now[0] += BUCKET_S
    error = {"status_code": 13005, "status_message": "boom", "data": {}}
    log.append(make_frame("end", "error", flow_id="f", chat_id="c", message=error))
    meter.tick(held)
    buckets = meter.buckets()
    assert [(b.turns, b.tokens, b.errors) for b in buckets] == [(1, 1, 0), (0, 0, 1)]
    assert buckets[1].start - buckets[0].start == BUCKET_S
    assert meter.turns("f:c") == 1
    assert [(e.code, e.message, e.chat_id) for e in meter.errors()] == [(13005, "boom", "c")]
    meter.tick({})  # the session is gone: forgotten
    assert meter.turns("f:c") == 0
