"""One chat turn end to end: a real WebSocket client against `raychat serve --demo`."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from actors.frames import FRAME_KEYS
from serve_app.auth.tokens import Principal, issue_token
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
FLOW_TURN = [("begin", "system"), ("start", "processing")]
FLOW_END = [("end", "processing"), ("start", "answer"), ("end", "answer"), ("close", "processing")]


def ws_url(server: Server, chat_id: str | None = None, token: str | None = None) -> str:
    url = f"{server.ws_base}/api/v1/chat/chat/{server.flow_id}?t={token or server.token}"
    return url + (f"&chat_id={chat_id}" if chat_id else "")


async def read_turn(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = json.loads(await ws.recv())
        frames.append(frame)
        if frame["type"] == "close":
            return frames


async def ask(ws: ClientConnection, text: str, **extra: Any) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"inputs": {"input": text}, **extra}))
    return await read_turn(ws)


def history(server: Server, chat_id: str, token: str | None = None) -> httpx.Response:
    return httpx.get(
        f"{server.base}/api/v1/chat/chat/history",
        params={"chat_id": chat_id, "flow_id": server.flow_id},
        headers={"Authorization": f"Bearer {token or server.token}"},
        timeout=30,
    )


def test_health_is_ok(server: Server) -> None:
    response = httpx.get(f"{server.base}/health", timeout=30)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_full_turn_frames_and_history(server: Server) -> None:
    chat_id = uuid.uuid4().hex
    async with websockets.connect(ws_url(server, chat_id)) as ws:
        frames = await ask(ws, "hello raychat")
    kinds = [(f["type"], f["category"]) for f in frames]
    assert kinds[:2] == FLOW_TURN and kinds[-4:] == FLOW_END
    assert set(kinds[2:-4]) == {("stream", "processing")}
    for frame in frames:
        assert set(frame) == set(FRAME_KEYS)
        assert (frame["flow_id"], frame["chat_id"]) == (server.flow_id, chat_id)
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(frames)))
    streamed = "".join(f["message"]["content"] for f in frames if f["type"] == "stream")
    answer = frames[-2]
    assert answer["message"] == streamed == "echo(0): hello raychat"
    assert isinstance(answer["message_id"], int)

    body = history(server, chat_id).json()
    assert body["status_code"] == 200
    rows = body["data"]
    assert [(r["category"], r["message"]) for r in rows] == [
        ("answer", "echo(0): hello raychat"),
        ("question", '{"input": "hello raychat"}'),  # the inputs' JSON (API.md §4.5)
    ]
    assert rows[0]["id"] == answer["message_id"]
    assert rows[0]["user_name"] == "demo" and rows[0]["create_time"].endswith("+00:00")


async def test_context_carries_across_turns_and_sockets(server: Server) -> None:
    chat_id = uuid.uuid4().hex
    async with websockets.connect(ws_url(server, chat_id)) as ws:
        await ask(ws, "first")
    async with websockets.connect(ws_url(server, chat_id)) as ws:
        frames = await ask(ws, "second")
    assert frames[-2]["message"] == "echo(2): second"


async def test_bad_frame_gets_error_frame_and_socket_stays_open(server: Server) -> None:
    async with websockets.connect(ws_url(server, uuid.uuid4().hex)) as ws:
        await ws.send("this is not json")
        error = json.loads(await ws.recv())
        assert (error["type"], error["category"]) == ("end", "error")
        assert error["message"]["status_code"] == 422
        await ws.send(json.dumps({"inputs": {"wrong_key": "x"}}))
        error = json.loads(await ws.recv())
        assert (
            error["message"]["status_code"] == 422
            and "inputs.input" in error["message"]["status_message"]
        )
        frames = await ask(ws, "still works")
        assert frames[-2]["message"] == "echo(0): still works"


@pytest.mark.parametrize("token", ["garbage", ""])
async def test_bad_token_closes_1008(server: Server, token: str) -> None:
    url = f"{server.ws_base}/api/v1/chat/chat/{server.flow_id}?t={token}"
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


async def test_unknown_flow_closes_1008(server: Server) -> None:
    url = f"{server.ws_base}/api/v1/chat/chat/{uuid.uuid4().hex}?t={server.token}"
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


async def test_oversized_frame_closes_1009(server: Server) -> None:
    async with websockets.connect(ws_url(server, uuid.uuid4().hex), max_size=None) as ws:
        await ws.send(json.dumps({"inputs": {"input": "x" * (2 << 20)}}))
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_other_user_cannot_read_or_write_the_chat(server: Server) -> None:
    chat_id = uuid.uuid4().hex
    async with websockets.connect(ws_url(server, chat_id)) as ws:
        await ask(ws, "private")
    intruder = issue_token(server.secret, Principal(server.user_id + 1000, "mallory"))
    response = history(server, chat_id, intruder)
    assert response.status_code == 403 and response.json()["status_code"] == 403
    async with websockets.connect(ws_url(server, chat_id, intruder)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "let me in"}}))
        error = json.loads(await ws.recv())
    assert error["message"]["status_code"] == 403
    rows = history(server, chat_id).json()["data"]
    assert [r["message"] for r in rows if r["category"] == "question"] == ['{"input": "private"}']


def test_history_without_token_is_401(server: Server) -> None:
    response = httpx.get(
        f"{server.base}/api/v1/chat/chat/history",
        params={"chat_id": "x", "flow_id": server.flow_id},
        timeout=30,
    )
    assert response.status_code == 401 and response.json()["status_code"] == 401


def test_history_validates_query(server: Server) -> None:
    response = httpx.get(
        f"{server.base}/api/v1/chat/chat/history",
        params={"chat_id": "x", "flow_id": server.flow_id, "page_size": 0},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=30,
    )
    assert response.status_code == 422 and response.json()["status_code"] == 422


async def test_pings_are_answered_and_quiet_sockets_stay_open(server: Server) -> None:
    """API.md §4.4: no idle close by default (opt-in close: tests/unit/test_socket_lifetime.py)."""
    async with websockets.connect(ws_url(server, uuid.uuid4().hex), ping_interval=None) as ws:
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)  # protocol-level ping answered
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 10)  # longer than the old e2e idle close (8 s)
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)  # still open
