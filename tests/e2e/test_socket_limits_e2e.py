"""Socket-side limits over real Ray + Serve (issue 8): a turn keeps its concurrent-turn slot
after its socket closed (review §11: reconnecting used to get around the limit), and a deleted
chat refuses WebSocket writes like REST does (review §14)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import demo_graph
from tests.e2e.api.accounts import Account, register
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
CONCURRENT_TURNS = 4  # the server's default RAYCHAT_RATE_CONCURRENT_TURNS


@pytest.fixture(scope="module")
def carol(server: Server) -> Iterator[Account]:
    account = register(server, "limits-carol")
    yield account
    account.http.close()


def url(server: Server, account: Account, flow_id: str, chat_id: str) -> str:
    return f"{server.ws_base}/api/v1/chat/chat/{flow_id}?t={account.token}&chat_id={chat_id}"


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return frame


async def until(ws: ClientConnection, type_: str) -> list[dict[str, Any]]:
    frames = [await recv(ws)]
    while frames[-1]["type"] != type_:
        frames.append(await recv(ws))
    return frames


async def test_closing_the_socket_keeps_the_turn_slot_until_the_turn_ends(
    server: Server, carol: Account
) -> None:
    slow = carol.create_flow(data=demo_graph(tokens_per_second=20, answer_tokens=2_000))["id"]
    chats = [uuid.uuid4().hex for _ in range(CONCURRENT_TURNS)]
    for chat_id in chats:  # ask, see the turn begin, hang up: the turn goes on
        async with websockets.connect(url(server, carol, slow, chat_id)) as ws:
            await ws.send(json.dumps({"inputs": {"input": "long"}}))
            assert (await recv(ws))["type"] == "begin"
    async with websockets.connect(url(server, carol, slow, uuid.uuid4().hex)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "one more"}}))
        refused = await recv(ws)
        assert refused["message"]["status_code"] == 429, refused
        assert refused["message"]["data"]["scope"] == "concurrent_turns"
    async with websockets.connect(url(server, carol, slow, chats[0])) as ws:
        await ws.send(json.dumps({"action": "stop"}))  # the first turn ends: its slot frees
        await until(ws, "close")
        await ws.send(json.dumps({"chat_id": chats[1], "action": "stop"}))
        await until(ws, "close")
    fast = carol.create_flow()["id"]
    async with websockets.connect(url(server, carol, fast, uuid.uuid4().hex)) as ws:
        for _ in range(100):  # the slot is released once the detached wait saw the close
            await ws.send(json.dumps({"inputs": {"input": "now?"}}))
            first = await recv(ws)
            if first["type"] == "begin":
                break
            assert first["message"]["status_code"] == 429
            await asyncio.sleep(0.1)  # polling with a deadline, not ordering
        turn = await until(ws, "close")
    assert turn[-2]["message"] == "echo(0): now?"
    async with websockets.connect(url(server, carol, slow, chats[2])) as ws:
        for chat_id in chats[2:]:  # leave nothing running
            await ws.send(json.dumps({"chat_id": chat_id, "action": "stop"}))
            await until(ws, "close")


async def test_a_deleted_chat_refuses_websocket_writes_like_rest(
    server: Server, carol: Account
) -> None:
    flow_id = carol.create_flow()["id"]
    chat_id = uuid.uuid4().hex
    async with websockets.connect(url(server, carol, flow_id, chat_id)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "before"}}))
        await until(ws, "close")
    carol.data(carol.delete(f"/api/v1/chat/{chat_id}"))
    async with websockets.connect(url(server, carol, flow_id, chat_id)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "after delete"}}))
        refused = await recv(ws)
        assert refused["message"]["status_code"] == 409, refused
        await ws.send(json.dumps({"clear_history": True}))
        assert (await recv(ws))["message"]["status_code"] == 409
    body = {"flow_id": flow_id, "chat_id": chat_id, "human_message": "rest after delete"}
    assert carol.post("/api/v1/chat/chat/message", body).status_code == 409
