"""Frame sequences of API.md §4 not covered elsewhere: an error inside a turn, and several
chats multiplexed on one socket."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import websockets

from actors.errors import ModelExecutionError
from tests.conftest import demo_graph
from tests.e2e.api.accounts import Account
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


async def frames_until_close(ws: websockets.ClientConnection, chat_id: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = json.loads(await ws.recv())
        if frame["chat_id"] == chat_id:
            frames.append(frame)
            if frame["type"] == "close":
                return frames


async def test_model_error_ends_the_turn_and_the_socket_stays_usable(
    server: Server, alice: Account
) -> None:
    script = [{"error": "upstream exploded with secret details"}, "back to normal"]
    flow = alice.create_flow(data=demo_graph(model="script", script=script))
    chat_id = uuid.uuid4().hex
    url = f"{server.ws_base}/api/v1/chat/chat/{flow['id']}?t={alice.token}&chat_id={chat_id}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"inputs": {"input": "fail please"}}))
        failed = await frames_until_close(ws, chat_id)
        await ws.send(json.dumps({"inputs": {"input": "again"}}))
        recovered = await frames_until_close(ws, chat_id)
    error, close = failed[-2], failed[-1]
    assert (error["type"], error["category"]) == ("end", "error")
    assert error["message"]["status_code"] == ModelExecutionError.code
    assert error["message"]["data"]["error"] == "DemoModelError"
    assert "secret details" not in json.dumps(failed)  # exception text never reaches clients
    assert (close["type"], close["category"]) == ("close", "processing")
    assert recovered[-2]["message"] == "back to normal"


async def test_two_chats_run_concurrently_on_one_socket(server: Server, alice: Account) -> None:
    flow = alice.create_flow(data=demo_graph(tokens_per_second=100, answer_tokens=30))
    url = f"{server.ws_base}/api/v1/chat/chat/{flow['id']}?t={alice.token}"
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"chat_id": first, "inputs": {"input": "one"}}))
        await ws.send(json.dumps({"chat_id": second, "inputs": {"input": "two"}}))
        frames: dict[str, list[dict[str, Any]]] = {first: [], second: []}
        arrivals: list[tuple[str, str]] = []
        while not all(f and f[-1]["type"] == "close" for f in frames.values()):
            frame = json.loads(await ws.recv())
            frames[frame["chat_id"]].append(frame)
            arrivals.append((frame["chat_id"], frame["type"]))
    for chat, text in ((first, "one"), (second, "two")):
        answer = frames[chat][-2]
        assert answer["message"].startswith(f"echo(0): {text} w1")
        seqs = [f["seq"] for f in frames[chat]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # per-chat seq, no gaps
    # Concurrent, not one after the other: the second chat streamed before the first closed.
    first_closed = arrivals.index((first, "close"))
    assert (second, "stream") in arrivals[:first_closed]


async def test_messages_inserted_over_rest_reach_the_live_sessions_context(
    server: Server, alice: Account
) -> None:
    flow = alice.create_flow()
    chat_id = uuid.uuid4().hex
    url = f"{server.ws_base}/api/v1/chat/chat/{flow['id']}?t={alice.token}&chat_id={chat_id}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"inputs": {"input": "one"}}))
        await frames_until_close(ws, chat_id)
        alice.insert(flow["id"], chat_id, "inserted question", "inserted answer")
        await ws.send(json.dumps({"inputs": {"input": "two"}}))
        frames = await frames_until_close(ws, chat_id)
    assert frames[-2]["message"] == "echo(4): two"
