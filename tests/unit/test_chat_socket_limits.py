"""Socket limits of `ChatSocket` (issue 8, review §6 and §18), driven in-process: a fake
WebSocket, and a real `SessionHost` + `StorageActor` standing in for the Ray runtime. Every
client frame spends the per-socket frame budget; at most `ws_max_chats` chats are watched
(the least recently used idle one is evicted); `clear_history` counts as an ask."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from starlette.websockets import WebSocketState

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.frames import Frame
from actors.sessions.channel import HostChannel, Subscription
from actors.sessions.host import SessionHost
from actors.sessions.session import SessionKey
from actors.storage_actor.actor import StorageActor
from serve_app.auth.tokens import Principal
from serve_app.limits import Limits, LocalLimiter
from serve_app.ws.socket import AppRef, ChatSocket
from tests.conftest import demo_graph, flow_record

FLOW = "f" * 32
USER = Principal(1, "alice")


class FakeWebSocket:
    """What `ChatSocket` uses of a Starlette WebSocket: frames in, frames out, close."""

    def __init__(self, frames: list[str], limiter: LocalLimiter) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for text in frames:
            self.incoming.put_nowait({"type": "websocket.receive", "text": text})
        self.sent: list[Frame] = []
        self.closed: tuple[int, str] | None = None
        self.application_state = WebSocketState.CONNECTED
        self.app = SimpleNamespace(state=SimpleNamespace(limiter=limiter))

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    def leave(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect"})

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)
        self.application_state = WebSocketState.DISCONNECTED

    def errors(self) -> list[int]:
        return [f["message"]["status_code"] for f in self.sent if f["category"] == "error"]


@dataclass
class HostRuntime:
    """`actors.ray.registry.Runtime`'s socket-facing calls, served by one in-process host."""

    config: RuntimeConfig
    host: SessionHost
    storage: StorageActor
    archive: None = None
    watched: list[SessionKey] = field(default_factory=list)

    async def watch(self, key: SessionKey, user_id: int) -> Any:
        self.watched.append(key)
        return await self.host.watch(key, user_id)

    channel: HostChannel | None = None

    async def subscribe(self, key: SessionKey, user_id: int, after_seq: int) -> Subscription:
        if self.channel is None:  # one frame channel to the one host, as a replica has
            timeout_s = self.config.sessions.pull_timeout_s
            self.channel = HostChannel(self.host.pull_channel, self.host.watch_channel, timeout_s)
        return self.channel.subscribe(key, user_id, after_seq)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.host, name)


async def serve(
    storage: StorageActor,
    frames: list[str],
    *,
    graph: dict[str, object] | None = None,
    limits: Limits | None = None,
    until: int | None = None,
    **config: Any,
) -> tuple[FakeWebSocket, ChatSocket, HostRuntime]:
    """Serve `frames` on one socket; the client leaves once `until` frames were sent back
    (or right after the last frame was read)."""
    await storage.put_flow(flow_record(FLOW, graph or demo_graph()))
    runtime_config = RuntimeConfig(
        storage=StorageConfig(database_url="sqlite://"), jwt_secret="s" * 32, **config
    )
    runtime = HostRuntime(runtime_config, SessionHost(SessionConfig(), storage), storage)
    ws = FakeWebSocket(frames, LocalLimiter(limits or Limits(asks_per_minute=0)))
    socket = ChatSocket(ws, runtime, USER, AppRef(FLOW, "flow"), None)  # type: ignore[arg-type]
    task = asyncio.create_task(socket.serve())
    async with asyncio.timeout(30):
        while until is not None and len(ws.sent) < until:
            await asyncio.sleep(0.01)  # polling with a deadline, not ordering
        while not ws.incoming.empty():
            await asyncio.sleep(0.01)
        ws.leave()
        await task
    return ws, socket, runtime


async def test_frames_over_the_budget_get_429_and_are_dropped(storage: StorageActor) -> None:
    ws, _, _ = await serve(storage, ["not json"] * 30, ws_frames_per_second=5)
    assert ws.errors() == [422] * 10 + [429] * 20  # a burst of 2 s, then every frame refused
    throttled = ws.sent[-1]["message"]
    assert throttled["data"]["scope"] == "frames_per_second"
    assert ws.closed is None  # throttling never closes the socket


async def test_without_a_frame_budget_every_frame_is_parsed(storage: StorageActor) -> None:
    ws, _, _ = await serve(storage, ["not json"] * 300, ws_frames_per_second=0)
    assert ws.errors() == [422] * 300


async def test_at_most_ws_max_chats_are_watched_and_the_oldest_idle_is_evicted(
    storage: StorageActor,
) -> None:
    frames = [json.dumps({"chat_id": f"chat-{i}"}) for i in range(6)]
    ws, socket, runtime = await serve(storage, frames, ws_max_chats=3)
    assert [k.chat_id for k in socket._watched.chats()] == ["chat-3", "chat-4", "chat-5"]
    assert len(runtime.watched) == 6 and ws.errors() == []


async def test_when_every_watched_chat_is_mid_turn_another_chat_is_429(
    storage: StorageActor,
) -> None:
    slow = demo_graph(tokens_per_second=5, answer_tokens=500)
    asks = [json.dumps({"chat_id": f"busy-{i}", "inputs": {"input": "go"}}) for i in range(3)]
    ws, socket, runtime = await serve(
        storage, asks, graph=slow, limits=Limits(0, 0), ws_max_chats=2, until=1
    )
    for session in runtime.host._sessions.values():  # end the slow turns before storage
        session.cancel()
        await session.wait_turn()
    refused = [f for f in ws.sent if f["category"] == "error"]
    assert [f["message"]["status_code"] for f in refused] == [429]
    assert refused[0]["message"]["data"]["scope"] == "ws_max_chats"
    assert [k.chat_id for k in socket._watched.chats()] == ["busy-0", "busy-1"]


async def test_clear_history_counts_as_an_ask(storage: StorageActor) -> None:
    frames = [json.dumps({"chat_id": "c", "clear_history": True})] * 3
    ws, _, _ = await serve(storage, frames, limits=Limits(asks_per_minute=2), until=3)
    dividers = [f for f in ws.sent if f["category"] == "divider"]
    assert len(dividers) == 2 and ws.errors() == [429]
