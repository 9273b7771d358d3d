"""SessionActor without Ray: state machine, turn frames, persistence, context rebuild, errors."""

from __future__ import annotations

import logging

import pytest

from actors.config import SessionConfig
from actors.errors import FlowDeleted, Forbidden, InvalidInput, ModelExecutionError, TurnBusy
from actors.frames import FRAME_KEYS, Frame, logged_seq
from actors.sessions.session import Ask, IllegalTransition, SessionActor, SessionKey, SessionState
from actors.storage_actor.actor import StorageActor
from storage.records import HistoryQuery
from tests.conftest import demo_graph, flow_record

FLOW = "f" * 32
CONFIG = SessionConfig(context_messages=20)


async def run_turn(session: SessionActor, text: str, user_id: int = 1) -> list[Frame]:
    after = session.start_turn(Ask(user_id=user_id, inputs={"input": text})) - 1
    await session.wait_turn()
    return session.frames.read_after(after)


async def active_session(
    storage: StorageActor, chat: str = "chat-1", persist: bool = True
) -> SessionActor:
    session = SessionActor(SessionKey(FLOW, chat, persist), storage, CONFIG)
    await session.activate()
    await session.admit(1)  # user 1 claims (or already owns) the chat
    return session


@pytest.fixture
async def flow_storage(storage: StorageActor) -> StorageActor:
    await storage.put_flow(flow_record(FLOW))
    return storage


def state_of(session: SessionActor) -> SessionState:
    """The state, read through a call: mypy would carry an asserted `session.state` past the
    awaits that change it and call the next assertion unreachable."""
    return session.state


async def test_states_follow_the_machine(flow_storage: StorageActor) -> None:
    session = SessionActor(SessionKey(FLOW, "c"), flow_storage, CONFIG)
    assert state_of(session) is SessionState.INIT
    with pytest.raises(IllegalTransition):
        session.start_turn(Ask(user_id=1, inputs={"input": "x"}))  # no object yet
    await session.activate()
    assert state_of(session) is SessionState.WAITING_OBJECT
    with pytest.raises(IllegalTransition):
        await session.activate()  # already active
    await session.admit(1)
    session.start_turn(Ask(user_id=1, inputs={"input": "x"}))
    assert state_of(session) is SessionState.RUNNING
    await session.wait_turn()
    assert state_of(session) is SessionState.WAITING_OBJECT


async def test_flow_turn_frame_sequence(flow_storage: StorageActor) -> None:
    frames = await run_turn(await active_session(flow_storage), "hello world")
    kinds = [(f["type"], f["category"]) for f in frames]
    assert kinds[:2] == [("begin", "system"), ("start", "processing")]
    assert kinds[-4:] == [
        ("end", "processing"),
        ("start", "answer"),
        ("end", "answer"),
        ("close", "processing"),
    ]
    streamed = [f["message"]["content"] for f in frames if f["type"] == "stream"]
    assert "".join(streamed) == "echo(0): hello world"
    assert all(set(f) == set(FRAME_KEYS) for f in frames)
    seqs = [logged_seq(f) for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(frames)))


async def test_answer_id_is_the_committed_row(flow_storage: StorageActor) -> None:
    frames = await run_turn(await active_session(flow_storage), "persist me")
    answer = next(f for f in frames if (f["type"], f["category"]) == ("end", "answer"))
    rows = await flow_storage.history(HistoryQuery("chat-1", FLOW, None, 10))
    assert [(r.category, r.message) for r in rows] == [
        ("answer", "echo(0): persist me"),
        ("question", '{"input": "persist me"}'),  # the inputs' JSON, as Bisheng (API.md §4.5)
    ]
    assert answer["message_id"] == rows[0].id


async def test_context_grows_and_is_rebuilt_from_storage(flow_storage: StorageActor) -> None:
    session = await active_session(flow_storage)
    await run_turn(session, "one")
    frames = await run_turn(session, "two")
    assert frames[-2]["message"] == "echo(2): two"
    reborn = await active_session(flow_storage)  # a new activation, e.g. on another host
    frames = await run_turn(reborn, "three")
    assert frames[-2]["message"] == "echo(4): three"


async def test_second_ask_while_running_is_rejected(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph(tokens_per_second=200)))
    session = await active_session(storage)
    session.start_turn(Ask(user_id=1, inputs={"input": "slow"}))
    with pytest.raises(TurnBusy):
        session.start_turn(Ask(user_id=1, inputs={"input": "again"}))
    await session.wait_turn()


async def test_preview_persists_nothing(flow_storage: StorageActor) -> None:
    frames = await run_turn(await active_session(flow_storage, "p", persist=False), "hi")
    assert frames[-2]["message_id"] is None
    assert await flow_storage.history(HistoryQuery("p", FLOW, None, 10)) == []


async def test_missing_input_is_a_clear_error(flow_storage: StorageActor) -> None:
    session = await active_session(flow_storage)
    with pytest.raises(InvalidInput, match=r"inputs\.input"):
        session.start_turn(Ask(user_id=1, inputs={"question": "wrong key"}))
    assert session.state is SessionState.WAITING_OBJECT


async def test_other_users_chat_is_refused(flow_storage: StorageActor) -> None:
    await run_turn(await active_session(flow_storage), "mine", user_id=1)
    reborn = await active_session(flow_storage)
    with pytest.raises(Forbidden):
        reborn.start_turn(Ask(user_id=2, inputs={"input": "theirs"}))


async def test_deleted_flow_cannot_activate(storage: StorageActor) -> None:
    session = SessionActor(SessionKey("0" * 32, "c"), storage, CONFIG)
    with pytest.raises(FlowDeleted):
        await session.activate()
    assert session.state is SessionState.INIT


async def test_model_failure_ends_turn_with_error_frame(
    storage: StorageActor, caplog: pytest.LogCaptureFixture
) -> None:
    script = [{"error": "model exploded"}, "recovered"]
    await storage.put_flow(flow_record(FLOW, demo_graph(model="script", script=script)))
    session = await active_session(storage)
    with caplog.at_level(logging.ERROR, logger="actors.sessions.session"):
        frames = await run_turn(session, "boom")
    # The operator's log has the failure with its traceback; the client only the code.
    failed = [r for r in caplog.records if r.getMessage().startswith("turn failed")]
    assert failed and failed[0].exc_info is not None
    assert "model exploded" in caplog.text
    assert (frames[-2]["type"], frames[-2]["category"]) == ("end", "error")
    assert frames[-2]["message"]["status_code"] == ModelExecutionError.code
    assert "exploded" not in str(frames[-2])  # no exception text reaches the client
    assert frames[-1]["type"] == "close"
    assert session.state is SessionState.WAITING_OBJECT
    frames = await run_turn(session, "next")  # the session stays usable
    assert frames[-2]["message"] == "recovered"
