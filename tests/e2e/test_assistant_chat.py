"""Assistant chat (API.md §4.2) over a real socket against `raychat serve --demo`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import websockets

from storage.records import FLOW_ONLINE, AssistantRecord
from storage.sql import SqlRepository, make_engine
from tests.e2e.conftest import Server
from tests.e2e.test_chat_turn import read_turn

pytestmark = pytest.mark.e2e


def url(server: Server, assistant_id: str, chat_id: str, token: str | None = None) -> str:
    return (
        f"{server.ws_base}/api/v1/assistant/chat/{assistant_id}"
        f"?t={token or server.token}&chat_id={chat_id}"
    )


async def put_assistant(server: Server, script: list[Any], tools: list[str]) -> str:
    """Register an assistant straight in the server's database."""
    repo = SqlRepository(make_engine(f"sqlite:///{server.workdir / 'raychat.db'}"))
    assistant = AssistantRecord(
        id=uuid.uuid4().hex,
        name="e2e assistant",
        prompt="Be brief.",
        user_id=server.user_id,
        status=FLOW_ONLINE,
        tools=tools,
        model={"provider": "demo", "model": "script", "script": script, "tokens_per_second": 0},
    )
    await repo.create_assistant(assistant)
    await repo.close()
    return assistant.id


def kinds(frames: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f["type"], f["category"]) for f in frames if f["type"] != "stream"]


async def test_demo_assistant_turn(server: Server) -> None:
    async with websockets.connect(url(server, server.assistant_id, uuid.uuid4().hex)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "hello assistant"}}))
        frames = await read_turn(ws)
    assert kinds(frames) == [
        ("begin", "processing"),
        ("start", "processing"),
        ("end", "processing"),
        ("start", "answer"),
        ("end_cover", "answer"),
        ("close", "processing"),
    ]
    answer = frames[-2]
    assert answer["message"] == "echo(0): hello assistant"
    assert isinstance(answer["message_id"], int)
    assert "client_key" in json.loads(frames[0]["extra"])


async def test_tool_call_frames(server: Server) -> None:
    assistant_id = await put_assistant(
        server, [{"tool": "calculator", "input": "2+2"}, "Four."], ["calculator"]
    )
    async with websockets.connect(url(server, assistant_id, uuid.uuid4().hex)) as ws:
        await ws.send(json.dumps({"inputs": {"input": "what is 2+2?"}}))
        frames = await read_turn(ws)
    start, end = (f for f in frames if f["category"] == "tool")
    assert (start["type"], end["type"]) == ("start", "end")
    assert json.loads(start["message"]) == {"tool_key": "calculator", "input_str": "2+2"}
    assert json.loads(end["message"]) == {"tool_key": "calculator", "output": "4"}
    assert json.loads(start["extra"])["run_id"] == json.loads(end["extra"])["run_id"]
    assert frames[-2]["message"] == "Four."


async def test_unknown_assistant_closes_1008(server: Server) -> None:
    async with websockets.connect(url(server, uuid.uuid4().hex, "c")) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


async def test_flow_id_cannot_be_used_as_an_assistant(server: Server) -> None:
    async with websockets.connect(url(server, server.flow_id, "c")) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
