"""Assistant turns without Ray: the tool-calling loop and its frames (API.md §4.2)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from actors.config import SessionConfig
from actors.flows.tools import knowledge_name
from actors.frames import Frame
from actors.sessions.session import Ask, SessionActor, SessionKey
from actors.storage_actor.actor import StorageActor
from storage.records import FLOW_ONLINE, AssistantRecord, HistoryQuery
from tests.conftest import demo_graph, flow_record


async def assistant_session(
    storage: StorageActor, script: list[Any], tools: list[str], **model: Any
) -> SessionActor:
    assistant = AssistantRecord(
        id=uuid.uuid4().hex,
        name="helper",
        prompt="You are helpful.",
        user_id=1,
        status=FLOW_ONLINE,
        model={
            "provider": "demo",
            "model": "script",
            "script": script,
            "tokens_per_second": 0,
            **model,
        },
        tools=tools,
    )
    await storage.create_assistant(assistant)
    session = SessionActor(
        SessionKey(assistant.id, uuid.uuid4().hex, kind="assistant"), storage, SessionConfig()
    )
    await session.activate()
    await session.admit(1)  # user 1 claims the chat
    return session


async def run(session: SessionActor, text: str) -> list[Frame]:
    after = session.start_turn(Ask(user_id=1, inputs={"input": text})) - 1
    await session.wait_turn()
    return session.frames.read_after(after)


def kinds(frames: list[Frame]) -> list[tuple[str, str]]:
    return [(f["type"], f["category"]) for f in frames if f["type"] != "stream"]


async def test_tool_call_turn_frames(storage: StorageActor) -> None:
    session = await assistant_session(
        storage, [{"tool": "calculator", "input": "6*7"}, "It is 42."], ["calculator"]
    )
    frames = await run(session, "what is six times seven?")
    assert kinds(frames) == [
        ("begin", "processing"),
        ("start", "processing"),
        ("end", "processing"),
        ("start", "tool"),
        ("end", "tool"),
        ("start", "processing"),
        ("end", "processing"),
        ("start", "answer"),
        ("end_cover", "answer"),
        ("close", "processing"),
    ]
    start, end = (f for f in frames if f["category"] == "tool")
    assert json.loads(start["message"]) == {"tool_key": "calculator", "input_str": "6*7"}
    assert json.loads(end["message"]) == {"tool_key": "calculator", "output": "42"}
    assert json.loads(start["extra"])["run_id"] == json.loads(end["extra"])["run_id"]
    answer = frames[-2]
    assert answer["message"] == "It is 42." and isinstance(answer["message_id"], int)
    rows = await storage.history(HistoryQuery(session.key.chat_id, session.key.flow_id, None, 10))
    assert [r.category for r in rows] == ["answer", "tool", "question"]
    assert rows[0].id == answer["message_id"]


async def test_knowledge_and_flow_tools_have_their_categories(storage: StorageActor) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph())
    await storage.put_flow(flow)
    docs = ["Ray actors are processes.", "Bananas are yellow."]
    session = await assistant_session(
        storage,
        [
            {"tool": f"flow_{flow.id}", "input": "hi"},
            {"tool": knowledge_name(docs), "input": "actors"},
            "done",
        ],
        [f"flow:{flow.id}", f"knowledge:{json.dumps(docs)}"],
    )
    frames = await run(session, "use your tools")
    tool_frames = [f for f in frames if f["category"] in ("flow", "knowledge")]
    assert [(f["type"], f["category"]) for f in tool_frames] == [
        ("start", "flow"),
        ("end", "flow"),
        ("start", "knowledge"),
        ("end", "knowledge"),
    ]
    assert json.loads(tool_frames[1]["message"])["output"] == "echo(0): hi"
    assert "Ray actors are processes." in json.loads(tool_frames[3]["message"])["output"]


async def test_context_carries_to_the_next_assistant_turn(storage: StorageActor) -> None:
    session = await assistant_session(storage, [], [], model="echo")
    await run(session, "first")
    frames = await run(session, "second")
    assert frames[-2]["message"] == "echo(2): second"


async def test_unknown_tool_is_an_error_result_not_a_crash(storage: StorageActor) -> None:
    session = await assistant_session(
        storage, [{"tool": "teleport", "input": "x"}, "recovered"], ["calculator"]
    )
    frames = await run(session, "go")
    end_tool = next(f for f in frames if (f["type"], f["category"]) == ("end", "tool"))
    assert json.loads(end_tool["message"])["output"].startswith("Error:")
    assert frames[-2]["message"] == "recovered"
