"""Stop, clear, resume and multi-viewer over real sockets against `raychat serve --demo`."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import demo_graph
from tests.e2e.conftest import Server
from tests.e2e.test_chat_turn import ask, read_turn

pytestmark = pytest.mark.e2e


async def put_flow(server: Server, graph: dict[str, Any]) -> str:
    """Register an online flow of the demo user over REST."""
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=30) as http:
        created = await http.post("/api/v1/flows", json={"name": "e2e", "data": graph})
        assert created.status_code == 200, created.text
        flow_id: str = created.json()["data"]["id"]
        online = await http.patch(f"/api/v1/flows/{flow_id}", json={"status": 2})
        assert online.status_code == 200, online.text
    return flow_id


def url(server: Server, flow_id: str, chat_id: str) -> str:
    return f"{server.ws_base}/api/v1/chat/chat/{flow_id}?t={server.token}&chat_id={chat_id}"


async def until(ws: websockets.ClientConnection, type_: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frames.append(json.loads(await ws.recv()))
        if frames[-1]["type"] == type_:
            return frames


async def test_stop_mid_stream_ends_with_partial_answer(server: Server) -> None:
    flow_id = await put_flow(server, demo_graph(tokens_per_second=50, answer_tokens=400))
    async with websockets.connect(url(server, flow_id, uuid.uuid4().hex)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "go on and on"}}))
        frames = await until(ws, "stream")
        await ws.send(json.dumps({"action": "stop"}))
        frames += await read_turn(ws)
    tail = [(f["type"], f["category"]) for f in frames[-2:]]
    assert tail == [("end", "answer"), ("close", "processing")]
    streamed = "".join(f["message"]["content"] for f in frames if f["type"] == "stream")
    # "" as in Bisheng: clients append `end` text to what they streamed (API.md §4.2)
    assert frames[-2]["message"] == "" and 0 < len(streamed.split()) < 400
    assert isinstance(frames[-2]["message_id"], int)


async def test_stop_when_idle_gets_only_close(server: Server) -> None:
    async with websockets.connect(url(server, server.flow_id, uuid.uuid4().hex)) as ws:
        await ws.send(json.dumps({"action": "stop"}))
        frame = json.loads(await ws.recv())
        assert (frame["type"], frame["category"]) == ("close", "processing")
        frames = await ask(ws, "after stop")  # nothing else was queued before this turn
        assert frames[0]["type"] == "begin"


async def test_clear_history_resets_model_context(server: Server) -> None:
    async with websockets.connect(url(server, server.flow_id, uuid.uuid4().hex)) as ws:
        await ask(ws, "one")
        await ws.send(json.dumps({"clear_history": True}))
        divider = json.loads(await ws.recv())
        assert (divider["type"], divider["category"]) == ("end", "divider")
        frames = await ask(ws, "two")
    assert frames[-2]["message"] == "echo(0): two"


async def test_two_sockets_on_one_chat_both_get_every_frame(server: Server) -> None:
    chat_id = uuid.uuid4().hex
    async with websockets.connect(url(server, server.flow_id, chat_id)) as watcher:
        await ask(watcher, "warm up")  # the chat exists and the watcher is pumping it
        async with websockets.connect(url(server, server.flow_id, chat_id)) as asker:
            await asker.send(json.dumps({"inputs": {"input": "shared"}}))
            mine, theirs = await asyncio.gather(read_turn(asker), read_turn(watcher))
    assert mine == theirs and mine[-2]["message"] == "echo(2): shared"


async def test_resume_after_reconnect_replays_missed_frames(server: Server) -> None:
    # Fast tokens: frames keep arriving while the second socket connects and resumes.
    flow_id = await put_flow(server, demo_graph(tokens_per_second=400, answer_tokens=200))
    chat_id = uuid.uuid4().hex
    async with websockets.connect(url(server, flow_id, chat_id)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "keep going"}}))
        seen = await until(ws, "stream")
    last_seq = seen[-1]["seq"]  # disconnected mid-turn; the turn goes on
    async with websockets.connect(url(server, flow_id, chat_id)) as ws:
        await ws.send(json.dumps({"action": "resume", "chat_id": chat_id, "last_seq": last_seq}))
        rest = await read_turn(ws)
    seqs = [f["seq"] for f in seen + rest]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no duplicate
    assert rest[-2]["category"] == "answer" and isinstance(rest[-2]["message_id"], int)


async def test_resume_from_before_what_is_kept_gets_info(server: Server) -> None:
    chat_id = uuid.uuid4().hex
    async with websockets.connect(url(server, server.flow_id, chat_id)) as ws:
        for text in ("a", "b", "c"):  # only the last two turns are kept
            await ask(ws, text)
        await ws.send(json.dumps({"action": "resume", "chat_id": chat_id, "last_seq": 0}))
        info = json.loads(await ws.recv())
    assert info["type"] == "info" and "history" in info["message"]


async def test_duplicate_client_msg_id_runs_once(server: Server) -> None:
    chat_id = uuid.uuid4().hex
    async with websockets.connect(url(server, server.flow_id, chat_id)) as ws:
        first = await ask(ws, "idempotent", client_msg_id="same-id")
        await ws.send(json.dumps({"inputs": {"input": "idempotent"}, "client_msg_id": "same-id"}))
        second = await ask(ws, "marker")
    assert first[-2]["message"] == "echo(0): idempotent"
    assert second[-2]["message"] == "echo(2): marker"  # no second turn ran in between
