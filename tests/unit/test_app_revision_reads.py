"""`AppLoader.revision` (issue 9): the per-turn revision check of an app that many turns start at
once shares reads (at most two in flight per app), and every check still reads storage after it
was called, so a turn always sees a change committed before it began."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

from actors.config import SessionConfig
from actors.frames import logged_seq
from actors.sessions.apps import AppLoader
from actors.sessions.host import SessionHost
from actors.sessions.keys import Ask, SessionKey
from actors.storage_actor.actor import StorageActor
from storage.records import FlowChanges, FlowRecord, HistoryQuery, MessageRow
from tests.conftest import demo_graph, flow_record


class SlowFlows:
    """A storage port with `get_flow` only: counts reads, each waits for `release`."""

    def __init__(self, flow: FlowRecord) -> None:
        self.flow = flow
        self.reads = 0
        self.release = asyncio.Event()

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        self.reads += 1
        version_at_start = self.flow
        await self.release.wait()
        return version_at_start


async def test_checks_during_a_read_share_the_next_read_which_sees_a_later_change() -> None:
    flow = flow_record("a" * 32, demo_graph())
    storage = SlowFlows(flow)
    loader = AppLoader(storage)  # type: ignore[arg-type]
    first = asyncio.create_task(loader.revision("flow", flow.id))
    async with asyncio.timeout(5):
        while storage.reads == 0:  # the first read has begun
            await asyncio.sleep(0)
    storage.flow = dataclasses.replace(flow, version=flow.version + 1)  # after `first` began
    later: list[asyncio.Task[Any]] = [
        asyncio.create_task(loader.revision("flow", flow.id)) for _ in range(50)
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    storage.release.set()
    assert await first == f"v{flow.version}"
    assert {await t for t in later} == {f"v{flow.version + 1}"}  # read after they were called
    assert storage.reads == 2  # 51 checks, two reads


class CountedReads:
    """A real storage actor whose `get_flow` and `history` reads are counted."""

    def __init__(self, storage: StorageActor) -> None:
        self._storage = storage
        self.flow_reads = self.history_reads = 0

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        self.flow_reads += 1
        return await self._storage.get_flow(flow_id)

    async def history(self, query: HistoryQuery) -> list[MessageRow]:
        self.history_reads += 1
        return await self._storage.history(query)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


async def answer_of(host: SessionHost, key: SessionKey, text: str) -> str:
    after = await host.start_turn(key, Ask(user_id=1, inputs={"input": text})) - 1
    async with asyncio.timeout(10):
        while True:
            batch = await host.pull(key, 1, after, 5)
            for frame in batch.frames:
                if frame["type"] == "end" and frame["category"] == "answer":
                    return str(frame["message"])
            after = logged_seq(batch.frames[-1]) if batch.frames else after


async def test_a_chats_first_turn_reuses_the_read_its_ask_triggered(storage: StorageActor) -> None:
    """The ask that activates a session reads the flow once (activation); its turn does not
    read it again. Later turns check the revision before they start, and see a change."""
    flow = flow_record("b" * 32, demo_graph())
    await storage.put_flow(flow)
    counted = CountedReads(storage)
    host = SessionHost(SessionConfig(), counted)
    key = SessionKey(flow.id, uuid.uuid4().hex)
    await answer_of(host, key, "one")
    assert counted.flow_reads == 1  # activation's load; the first turn reused it
    await answer_of(host, key, "two")
    assert counted.flow_reads == 2  # the second turn's revision check
    graph = demo_graph()
    graph["nodes"][1]["params"]["template"] = "changed: {input}"
    await storage.update_flow(flow.id, FlowChanges(data=graph))
    assert "changed: three" in await answer_of(host, key, "three")


async def test_only_a_chat_that_exists_has_its_history_read(storage: StorageActor) -> None:
    """Activating a chat nobody created reads no history (it has none); a later incarnation
    of the same chat reads it and answers with it in context."""
    flow = flow_record("c" * 32, demo_graph())
    await storage.put_flow(flow)
    key = SessionKey(flow.id, uuid.uuid4().hex)
    first = CountedReads(storage)
    assert (await answer_of(SessionHost(SessionConfig(), first), key, "remember")).startswith(
        "echo(0):"
    )
    assert first.history_reads == 0
    again = CountedReads(storage)
    answer = await answer_of(SessionHost(SessionConfig(), again), key, "and now?")
    assert again.history_reads == 1
    assert answer.startswith("echo(2):")  # the echo model counts its context: one exchange


async def test_activations_of_one_flow_at_once_share_its_reads(storage: StorageActor) -> None:
    """50 new chats of one flow activated together (a burst of first asks) read the flow at
    most twice, not once each."""
    flow = flow_record("d" * 32, demo_graph())
    await storage.put_flow(flow)
    counted = CountedReads(storage)
    host = SessionHost(SessionConfig(), counted)
    keys = [SessionKey(flow.id, uuid.uuid4().hex) for _ in range(50)]
    async with asyncio.timeout(10):
        await asyncio.gather(*(host.watch(key, 1) for key in keys))
    assert await host.live_sessions() == 50
    assert counted.flow_reads <= 2
