"""TelemetryQueue: the WebSocket layer's events go out in batches, one write per flush for all
events waiting; a failing write drops only its batch; beyond the bound events are counted as
dropped, never queued without limit."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence

import pytest

from serve_app.observability.business_events import telemetry_queue
from serve_app.observability.telemetry_queue import TelemetryQueue
from storage.records import TelemetryRecord

pytestmark = pytest.mark.timeout(10)


def event(n: int) -> TelemetryRecord:
    return TelemetryRecord(
        event_key=uuid.uuid4().hex,
        event_type="application_process",
        user_id=1,
        chat_id=f"chat{n}",
        payload={"n": n},
    )


class Writes:
    """Keeps each batch written; `written` is set once `expect` batches have come."""

    def __init__(self, expect: int, fail_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.expect, self.fail_first = expect, fail_first
        self.written = asyncio.Event()
        self.dropped = 0

    async def write(self, events: Sequence[TelemetryRecord]) -> None:
        self.batches.append([e.payload["n"] for e in events])
        if len(self.batches) >= self.expect:
            self.written.set()
        if self.fail_first and len(self.batches) == 1:
            raise RuntimeError("storage said no")

    def drop(self, count: int) -> None:
        self.dropped += count


async def test_events_queued_together_go_out_in_one_write() -> None:
    writes = Writes(expect=1)
    queue = TelemetryQueue(writes.write, writes.drop, flush_s=0.01)
    for n in range(5):
        queue.put(event(n))
    await writes.written.wait()
    assert writes.batches == [[0, 1, 2, 3, 4]]
    assert queue.pending == 0


async def test_a_failed_write_drops_its_batch_only() -> None:
    writes = Writes(expect=2, fail_first=True)
    queue = TelemetryQueue(writes.write, writes.drop, flush_s=0.01)
    queue.put(event(1))
    while not writes.batches:  # the first write has taken event 1 (and failed)
        await asyncio.sleep(0)
    queue.put(event(2))
    await writes.written.wait()
    assert writes.batches == [[1], [2]]
    assert writes.dropped == 1


async def test_beyond_the_bound_events_are_counted_as_dropped() -> None:
    writes = Writes(expect=1)
    queue = TelemetryQueue(writes.write, writes.drop, flush_s=0.01, max_pending=3)
    for n in range(5):
        queue.put(event(n))
    assert writes.dropped == 2
    await writes.written.wait()
    assert writes.batches == [[0, 1, 2]]


def test_each_runtime_has_its_own_queue_hashable_or_not() -> None:
    """The ingress's runtime and the tests' dataclass stand-ins (unhashable) each get one queue,
    kept for as long as the runtime lives."""

    @dataclasses.dataclass
    class StandIn:
        name: str

    first, second = StandIn("a"), StandIn("b")
    queue = telemetry_queue(first)  # type: ignore[arg-type]
    assert telemetry_queue(first) is queue  # type: ignore[arg-type]
    assert telemetry_queue(second) is not queue  # type: ignore[arg-type]
