"""Stop, clear, busy policies, idempotency and passivation, without Ray."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from actors.config import SessionConfig
from actors.errors import DuplicateAsk
from actors.frames import Frame, logged_seq
from actors.sessions.host import SessionHost
from actors.sessions.session import Ask, SessionActor, SessionKey
from actors.storage_actor.actor import StorageActor
from storage.records import HistoryQuery, MessageRecord
from tests.conftest import demo_graph, flow_record

FLOW = "f" * 32


async def session_on(
    storage: StorageActor,
    graph: dict[str, object] | None = None,
    chat: str = "chat-1",
    **config: object,
) -> SessionActor:
    await storage.put_flow(flow_record(FLOW, graph or demo_graph()))
    session = SessionActor(SessionKey(FLOW, chat), storage, SessionConfig(**config))  # type: ignore[arg-type]
    await session.activate()
    await session.admit(1)  # user 1 claims the chat
    return session


def ask(text: str, client_msg_id: str | None = None, user_id: int = 1) -> Ask:
    return Ask(user_id=user_id, inputs={"input": text}, client_msg_id=client_msg_id)


async def full_turn(session: SessionActor, text: str) -> list[Frame]:
    after = session.start_turn(ask(text)) - 1
    await session.wait_turn()
    return session.frames.read_after(after)


async def wait_for_stream(session: SessionActor, after: int) -> Frame:
    while True:
        for frame in await session.frames.wait_after(after, 5):
            if frame["type"] == "stream":
                return frame
            after = logged_seq(frame)


async def test_stop_cancels_the_model_and_stores_the_partial_answer(
    storage: StorageActor,
) -> None:
    session = await session_on(storage, demo_graph(tokens_per_second=100, answer_tokens=500))
    first = session.start_turn(ask("long one"))
    await wait_for_stream(session, first - 1)
    stop_seq = session.frames.last_seq
    assert session.stop(1) is True
    await session.wait_turn()
    after_stop = session.frames.read_after(stop_seq)
    assert [(f["type"], f["category"]) for f in after_stop] == [
        ("end", "answer"),
        ("close", "processing"),
    ]
    streamed = "".join(
        f["message"]["content"]
        for f in session.frames.read_after(first - 1)
        if f["type"] == "stream"
    )
    partial = after_stop[0]
    # `message` is "": clients append it to what they streamed (API.md §4.2, §4.5)
    assert partial["message"] == "" and 0 < len(streamed.split()) < 500
    rows = await storage.history(HistoryQuery("chat-1", FLOW, None, 10))
    assert rows[0].id == partial["message_id"] and rows[0].remark == "break_answer"
    assert rows[0].message == streamed


async def test_stop_without_a_turn_returns_false(storage: StorageActor) -> None:
    session = await session_on(storage)
    assert session.stop(1) is False


async def test_stopped_answer_is_not_model_context(storage: StorageActor) -> None:
    session = await session_on(storage, demo_graph(tokens_per_second=100, answer_tokens=300))
    first = session.start_turn(ask("interrupted"))
    await wait_for_stream(session, first - 1)
    session.stop(1)
    await session.wait_turn()
    reborn = await session_on(storage, demo_graph())
    frames = await full_turn(reborn, "next")
    assert frames[-2]["message"] == "echo(1): next"  # the question counts, the partial does not


async def test_clear_history_empties_context_here_and_after_reactivation(
    storage: StorageActor,
) -> None:
    session = await session_on(storage)
    await full_turn(session, "one")
    await full_turn(session, "two")
    assert await session.clear_context(1) is not None
    assert (await full_turn(session, "three"))[-2]["message"] == "echo(0): three"
    reborn = await session_on(storage)
    assert (await full_turn(reborn, "four"))[-2]["message"] == "echo(2): four"
    rows = await storage.history(HistoryQuery("chat-1", FLOW, None, 50))
    assert [r.message for r in rows if r.category == "question"] == [
        '{"input": "four"}',
        '{"input": "three"}',
        '{"input": "two"}',
        '{"input": "one"}',
    ]  # stored history stays


async def test_clear_during_a_turn_keeps_the_turn_and_its_exchange(storage: StorageActor) -> None:
    """`SessionActor.clear_context` during a turn: the divider lands among the turn's frames,
    the running turn keeps its context, and its exchange is all the next turn starts from."""
    session = await session_on(storage, demo_graph(tokens_per_second=100, answer_tokens=100))
    await full_turn(session, "one")
    first = session.start_turn(ask("two"))
    await wait_for_stream(session, first - 1)
    assert await session.clear_context(1) is not None
    await session.wait_turn()
    frames = session.frames.read_after(first - 1)
    kinds = [(f["type"], f["category"]) for f in frames]
    assert kinds.index(("end", "divider")) < kinds.index(("end", "answer"))
    answer = frames[kinds.index(("end", "answer"))]["message"]
    assert answer.startswith("echo(2): two")  # the running turn kept the context it started with
    assert (await full_turn(session, "three"))[-2]["message"].startswith("echo(2): three")


async def test_enqueue_policy_runs_asks_in_order(storage: StorageActor) -> None:
    session = await session_on(storage, busy_policy="enqueue")
    first = session.start_turn(ask("a"))
    session.start_turn(ask("b"))
    await session.wait_turn()
    answers = [
        f["message"]
        for f in session.frames.read_after(first - 1)
        if (f["type"], f["category"]) == ("end", "answer")
    ]
    assert answers == ["echo(0): a", "echo(2): b"]


async def test_same_client_msg_id_runs_one_turn(storage: StorageActor) -> None:
    session = await session_on(storage)
    first = session.start_turn(ask("once", client_msg_id="m-1"))
    await session.wait_turn()
    assert session.start_turn(ask("once", client_msg_id="m-1")) == first
    await session.wait_turn()
    rows = await storage.history(HistoryQuery("chat-1", FLOW, None, 10))
    assert [r.category for r in rows] == ["answer", "question"]


async def test_reactivated_chat_never_repeats_a_seq(storage: StorageActor) -> None:
    session = await session_on(storage)
    old = await full_turn(session, "one")
    reborn = await session_on(storage)
    new = await full_turn(reborn, "two")
    assert logged_seq(new[0]) > logged_seq(old[-1])
    first = logged_seq(new[0])
    assert [f["seq"] for f in new] == list(range(first, first + len(new)))


async def test_idle_sessions_are_passivated_and_rebuilt(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    host = SessionHost(SessionConfig(idle_timeout_s=60), storage)
    key = SessionKey(FLOW, "idle-chat")
    await host.start_turn(key, ask("remember me"))
    session = await host._session(key, 1)
    await session.wait_turn()
    assert host.passivate_idle() == 0  # just used
    session.last_used -= 120  # as if two idle minutes passed
    assert host.passivate_idle() == 1 and await host.live_sessions() == 0
    first = await host.start_turn(key, ask("still there?"))
    reborn = await host._session(key, 1)
    await reborn.wait_turn()
    answer = [f for f in reborn.frames.read_after(first - 1) if f["category"] == "answer"][-1]
    assert answer["message"] == "echo(2): still there?"


async def test_new_flow_version_is_picked_up_by_the_next_turn(storage: StorageActor) -> None:
    session = await session_on(storage)
    assert (await full_turn(session, "v1"))[-2]["message"] == "echo(0): v1"
    new = flow_record(FLOW, demo_graph(model="script", script=["from version two"]))
    await storage.put_flow(dataclasses.replace(new, version=2))
    assert (await full_turn(session, "v2"))[-2]["message"] == "from version two"


async def test_client_msg_id_answered_before_a_restart_is_refused(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    key = SessionKey(FLOW, "dup-chat")
    first = SessionHost(SessionConfig(), storage)
    await first.start_turn(key, ask("once", client_msg_id="m-9"))
    await (await first._session(key, 1)).wait_turn()
    second = SessionHost(SessionConfig(), storage)  # a new incarnation: nothing in memory
    with pytest.raises(DuplicateAsk):
        await second.start_turn(key, ask("once", client_msg_id="m-9"))
    rows = await storage.history(HistoryQuery("dup-chat", FLOW, None, 10))
    assert [r.category for r in rows] == ["answer", "question"]


async def test_sessions_of_a_host_share_a_stateless_app(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    host = SessionHost(SessionConfig(), storage)
    one = await host._session(SessionKey(FLOW, "share-1"), 1)
    two = await host._session(SessionKey(FLOW, "share-2"), 1)
    assert one._app is two._app  # compiled once, shared read-only

    scripted = "s" * 32
    await storage.put_flow(flow_record(scripted, demo_graph(model="script", script=["a", "b"])))
    three = await host._session(SessionKey(scripted, "script-1"), 1)
    four = await host._session(SessionKey(scripted, "script-2"), 1)
    assert three._app is not four._app  # the script position is per session
    await four.admit(1)
    frames = await full_turn(four, "x")
    assert frames[-2]["message"] == "a"  # four's script starts at its own beginning


async def test_stored_messages_changed_outside_turns_reach_the_next_turn(
    storage: StorageActor,
) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    host = SessionHost(SessionConfig(), storage)
    key = SessionKey(FLOW, "edited-chat")
    await host.start_turn(key, ask("one"))
    session = await host._session(key, 1)
    await session.wait_turn()
    extra = [
        MessageRecord(
            row_key=uuid.uuid4().hex,
            chat_id="edited-chat",
            flow_id=FLOW,
            user_id=1,
            is_bot=bot,
            message=text,
            type="end" if bot else "human",
            category="answer" if bot else "question",
        )
        for text, bot in (("inserted question", False), ("inserted answer", True))
    ]
    await storage.submit(extra)  # what POST /chat/chat/message does
    assert await host.refresh_context(key) is True
    first = await host.start_turn(key, ask("two"))
    await session.wait_turn()
    answer = [f for f in session.frames.read_after(first - 1) if f["category"] == "answer"][-1]
    assert answer["message"] == "echo(4): two"
    assert await host.refresh_context(SessionKey(FLOW, "not-live")) is False
