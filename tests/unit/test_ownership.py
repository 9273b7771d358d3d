"""Chat ownership in the session host (issue 8, review §4 and §14), without Ray: the owner is
claimed in storage at the first admission, nothing is open to all while it is unknown, and
another user's watch, ask, stop, clear or pull is Forbidden."""

from __future__ import annotations

import asyncio

import pytest

from actors.config import SessionConfig
from actors.errors import Conflict, Forbidden, RateLimited
from actors.frames import RelayFrame, logged_seq
from actors.sessions.host import SessionHost
from actors.sessions.session import Ask, SessionActor, SessionKey
from actors.storage_actor.actor import StorageActor
from storage.records import HistoryQuery, SessionRecord
from tests.conftest import demo_graph, flow_record

FLOW = "f" * 32
ALICE, BOB = 1, 2


def ask(text: str, user_id: int) -> Ask:
    return Ask(user_id=user_id, inputs={"input": text})


@pytest.fixture
async def host(storage: StorageActor) -> SessionHost:
    await storage.put_flow(flow_record(FLOW, demo_graph(tokens_per_second=200)))
    return SessionHost(SessionConfig(), storage)


async def drain(host: SessionHost, key: SessionKey, user_id: int, after: int) -> list[RelayFrame]:
    """Everything `user_id` may pull after `after` until the turn's close."""
    frames: list[RelayFrame] = []
    while not frames or frames[-1]["type"] != "close":
        batch = await host.pull(key, user_id, after, 5)
        frames += batch.frames
        after = logged_seq(batch.frames[-1]) if batch.frames else after
    return frames


async def test_a_first_watcher_claims_the_chat_and_the_asker_is_refused(
    host: SessionHost, storage: StorageActor
) -> None:
    key = SessionKey(FLOW, "predictable-chat-1")
    point = await host.watch(key, BOB)  # Bob watches before anyone asked: he claims it
    assert await storage.session_owner(key.chat_id) == (BOB, FLOW)
    with pytest.raises(Forbidden):
        await host.start_turn(key, ask("my password is hunter2", ALICE))
    with pytest.raises(Forbidden):
        await host.watch(key, ALICE)
    first = await host.start_turn(key, ask("bob's own question", BOB))
    with pytest.raises(Forbidden):
        await host.pull(key, ALICE, point.newest_seq, 0.1)  # Alice never gets Bob's frames
    frames = await drain(host, key, BOB, first - 1)
    assert frames[-2]["message"] == "echo(0): bob's own question"


async def test_a_chat_created_over_rest_refuses_every_other_users_action(
    host: SessionHost, storage: StorageActor
) -> None:
    key = SessionKey(FLOW, "rest-first")
    record = SessionRecord(key.chat_id, FLOW, 1, "flow", ALICE)
    assert (await storage.claim_session(record)).created  # what POST /chat/message does
    for refused in (
        host.watch(key, BOB),
        host.start_turn(key, ask("inject", BOB)),
        host.clear_context(key, BOB),
        host.stop(key, BOB),
    ):
        with pytest.raises(Forbidden):
            await refused
    first = await host.start_turn(key, ask("mine", ALICE))
    with pytest.raises(Forbidden):
        await host.stop(key, BOB)
    with pytest.raises(Forbidden):
        await host.pull(key, BOB, first - 1, 0.1)
    frames = await drain(host, key, ALICE, first - 1)
    assert all(f["user_id"] == ALICE for f in frames)
    rows = await storage.history(HistoryQuery(key.chat_id, FLOW, None, 10))
    assert {r.user_id for r in rows} == {ALICE}  # nothing of Bob's was stored in her chat


async def test_stop_of_a_chat_that_is_not_live_checks_its_owner(
    host: SessionHost, storage: StorageActor
) -> None:
    key = SessionKey(FLOW, "not-live")
    await storage.claim_session(SessionRecord(key.chat_id, FLOW, 1, "flow", ALICE))
    with pytest.raises(Forbidden):
        await host.stop(key, BOB)
    assert await host.stop(key, ALICE) is False


async def test_concurrent_first_admissions_agree_on_one_owner(host: SessionHost) -> None:
    key = SessionKey(FLOW, "both-at-once")
    results = await asyncio.gather(
        host.watch(key, ALICE), host.watch(key, BOB), return_exceptions=True
    )
    assert sum(isinstance(r, Forbidden) for r in results) == 1


async def test_an_unknown_owner_allows_nobody(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    session = SessionActor(SessionKey(FLOW, "unclaimed"), storage, SessionConfig())
    await session.activate()
    for user in (ALICE, BOB):
        with pytest.raises(Forbidden):
            session.check_viewer(user)  # before the review's fix: everyone was allowed
        with pytest.raises(Forbidden):
            session.start_turn(ask("x", user))


async def test_a_deleted_chat_refuses_writes_like_rest(
    host: SessionHost, storage: StorageActor
) -> None:
    key = SessionKey(FLOW, "deleted")
    await storage.claim_session(SessionRecord(key.chat_id, FLOW, 1, "flow", ALICE))
    await storage.delete_session(key.chat_id)
    with pytest.raises(Conflict):
        await host.start_turn(key, ask("into a deleted chat", ALICE))
    with pytest.raises(Conflict):
        await host.clear_context(key, ALICE)
    assert (
        await storage.history(HistoryQuery(key.chat_id, FLOW, None, 10, include_deleted=True)) == []
    )


async def test_live_sessions_per_user_are_capped(storage: StorageActor) -> None:
    await storage.put_flow(flow_record(FLOW, demo_graph()))
    host = SessionHost(SessionConfig(max_sessions_per_user=2), storage)
    await host.watch(SessionKey(FLOW, "one"), ALICE)
    await host.watch(SessionKey(FLOW, "two"), ALICE)
    with pytest.raises(RateLimited) as refused:
        await host.watch(SessionKey(FLOW, "three"), ALICE)
    assert refused.value.data["scope"] == "max_sessions_per_user"
    await host.watch(SessionKey(FLOW, "one"), ALICE)  # a live one is still usable
    await host.watch(SessionKey(FLOW, "bobs"), BOB)  # the cap is per user
    assert await storage.session_owner("three") is None  # refused before it was claimed
    unlimited = SessionHost(SessionConfig(max_sessions_per_user=0), storage)
    for i in range(5):
        await unlimited.watch(SessionKey(FLOW, f"many-{i}"), ALICE)
