"""`AppLoader.revision` (issue 9): the per-turn revision check of an app that many turns start at
once shares reads (at most two in flight per app), and every check still reads storage after it
was called, so a turn always sees a change committed before it began."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from actors.sessions.apps import AppLoader
from storage.records import FlowRecord
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
