"""A turn's wall-clock limit (issue 8): a turn that runs too long ends with an error frame and
the session is free for the next ask. Without Ray, on a slow demo model."""

from __future__ import annotations

from actors.config import SessionConfig
from actors.errors import ModelExecutionError
from actors.frames import logged_seq
from actors.sessions.session import Ask, SessionActor, SessionKey, SessionState
from actors.storage_actor.actor import StorageActor
from tests.conftest import demo_graph, flow_record

FLOW = "f" * 32


async def test_a_turn_over_the_time_limit_ends_with_an_error_and_frees_the_session(
    storage: StorageActor,
) -> None:
    # 1000 tokens at 20/s would take 50 s; the limit ends it after 0.3 s.
    await storage.put_flow(flow_record(FLOW, demo_graph(tokens_per_second=20, answer_tokens=1000)))
    config = SessionConfig(turn_timeout_s=0.3)
    session = SessionActor(SessionKey(FLOW, "slow"), storage, config)
    await session.activate()
    await session.admit(1)
    first = session.start_turn(Ask(user_id=1, inputs={"input": "go"}))
    await session.wait_turn()
    frames = session.frames.read_after(first - 1)
    error, close = frames[-2], frames[-1]
    assert (error["type"], error["category"]) == ("end", "error")
    assert error["message"]["status_code"] == ModelExecutionError.code
    assert error["message"]["data"]["error"] == "turn timed out"
    assert (close["type"], close["category"]) == ("close", "processing")
    assert session.state is SessionState.WAITING_OBJECT
    again = session.start_turn(Ask(user_id=1, inputs={"input": "again"}))  # free again
    assert again > logged_seq(close)
    session.stop(1)
    await session.wait_turn()


async def test_a_turn_limit_of_zero_is_off(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph(tokens_per_second=200, answer_tokens=40)))
    session = SessionActor(SessionKey(FLOW, "unlimited"), storage, SessionConfig(turn_timeout_s=0))
    await session.activate()
    await session.admit(1)
    first = session.start_turn(Ask(user_id=1, inputs={"input": "go"}))
    await session.wait_turn()
    frames = session.frames.read_after(first - 1)
    assert (frames[-2]["type"], frames[-2]["category"]) == ("end", "answer")
