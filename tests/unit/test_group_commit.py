"""GroupCommitter without Ray or a database: batching, commit-before-ack, back-pressure."""

from __future__ import annotations

import asyncio

import pytest

from actors.storage_actor.group_commit import GroupCommitter
from storage.records import MessageRecord, WriteBatch


def rec(key: str) -> MessageRecord:
    return MessageRecord(
        row_key=key,
        chat_id="c",
        flow_id="f",
        user_id=1,
        is_bot=False,
        message=key,
        type="human",
        category="question",
    )


class FakeDb:
    """Records each batch; optionally blocks until released, so tests control commit time."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.committed: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.fail_with: Exception | None = None

    async def write(self, batch: WriteBatch) -> dict[str, int]:
        messages = batch.messages
        self.batches.append([m.row_key for m in messages])
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.committed.update(m.row_key for m in messages)
        return {m.row_key: 1000 + int(m.row_key) for m in messages}


async def test_concurrent_callers_share_batches() -> None:
    db = FakeDb()
    committer = GroupCommitter(db.write, max_rows=1000, max_delay_s=0.05, max_queue=1000)
    ids = await asyncio.gather(*(committer.submit([rec(str(i))]) for i in range(200)))
    assert [i[0] for i in ids] == [1000 + i for i in range(200)]
    assert sum(len(b) for b in db.batches) == 200
    assert len(db.batches) < 20  # 200 callers, a handful of transactions


async def test_batch_flushes_at_max_rows() -> None:
    db = FakeDb()
    committer = GroupCommitter(db.write, max_rows=10, max_delay_s=60, max_queue=1000)
    await asyncio.gather(*(committer.submit([rec(str(i))]) for i in range(30)))
    assert max(len(b) for b in db.batches) <= 10
    assert len(db.batches) >= 3


async def test_caller_resolves_only_after_commit() -> None:
    db = FakeDb()
    db.gate = asyncio.Event()
    committer = GroupCommitter(db.write, max_rows=1, max_delay_s=0, max_queue=10)
    pending = asyncio.ensure_future(committer.submit([rec("7")]))
    await db.entered.wait()
    assert not pending.done() and "7" not in db.committed
    db.gate.set()
    assert await pending == [1007]
    assert "7" in db.committed


async def test_failed_batch_fails_every_caller_and_committer_recovers() -> None:
    db = FakeDb()
    db.fail_with = RuntimeError("database is down")
    committer = GroupCommitter(db.write, max_rows=100, max_delay_s=0.02, max_queue=100)
    results = await asyncio.gather(
        *(committer.submit([rec(str(i))]) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    db.fail_with = None
    assert await committer.submit([rec("9")]) == [1009]


async def test_full_queue_makes_callers_wait_not_drop() -> None:
    db = FakeDb()
    db.gate = asyncio.Event()
    committer = GroupCommitter(db.write, max_rows=1, max_delay_s=0, max_queue=2)
    first = asyncio.ensure_future(committer.submit([rec("0")]))
    await db.entered.wait()  # the flusher holds op 0; the queue has room for 2 more
    queued = [asyncio.ensure_future(committer.submit([rec(str(i))])) for i in (1, 2)]
    blocked = asyncio.ensure_future(committer.submit([rec("3")]))
    await asyncio.sleep(0)  # let every submit reach the queue (yield once, no timing)
    assert committer.depth == 2 and not blocked.done()
    db.gate.set()
    results = await asyncio.gather(first, *queued, blocked)
    assert [r[0] for r in results] == [1000, 1001, 1002, 1003]


@pytest.mark.parametrize("rows", [1, 3])
async def test_ids_follow_each_callers_row_order(rows: int) -> None:
    db = FakeDb()
    committer = GroupCommitter(db.write, max_rows=100, max_delay_s=0.01, max_queue=100)
    ids = await committer.submit([rec(str(i)) for i in range(rows)])
    assert ids == [1000 + i for i in range(rows)]


class PoisonDb(FakeDb):
    """Fails any batch that holds the row key "bad" (like a row the database cannot store)."""

    async def write(self, batch: WriteBatch) -> dict[str, int]:
        messages = batch.messages
        self.batches.append([m.row_key for m in messages])
        if any(m.row_key == "bad" for m in messages):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return {m.row_key: 1000 + int(m.row_key) for m in messages}


async def test_a_poison_op_fails_alone_and_the_rest_of_its_batch_commits() -> None:
    db = PoisonDb()
    # max_rows=3: the three ops are one batch, deterministically.
    committer = GroupCommitter(db.write, max_rows=3, max_delay_s=5, max_queue=10)
    first, poison, last = await asyncio.gather(
        committer.submit([rec("1")]),
        committer.submit([rec("bad")]),
        committer.submit([rec("3")]),
        return_exceptions=True,
    )
    assert first == [1001] and last == [1003]
    assert isinstance(poison, UnicodeEncodeError)
    assert db.batches == [["1", "bad", "3"], ["1"], ["bad"], ["3"]]


async def test_an_unavailable_database_fails_the_batch_at_once() -> None:
    db = FakeDb()
    db.fail_with = ConnectionRefusedError("database is down")
    committer = GroupCommitter(db.write, max_rows=3, max_delay_s=5, max_queue=10)
    results = await asyncio.gather(
        *(committer.submit([rec(str(i))]) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert len(db.batches) == 1  # no op-by-op retry against a database that is down


async def test_stop_waits_for_the_batch_in_flight_and_flushes_the_queue() -> None:
    # Lifecycle contract of GroupCommitter.stop: no caller is left waiting; the batch the
    # flusher is writing is not cancelled mid-write.
    db = FakeDb()
    db.gate = asyncio.Event()
    committer = GroupCommitter(db.write, max_rows=1, max_delay_s=0.001, max_queue=100)
    in_flight = asyncio.ensure_future(committer.submit([rec("1")]))
    await db.entered.wait()  # the flusher is inside the write of "1"
    stopping = asyncio.ensure_future(committer.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()  # stop waits for the write in flight
    db.gate.set()
    await asyncio.wait_for(stopping, 1.0)
    assert await asyncio.wait_for(in_flight, 1.0) == [1001]
    queued = [asyncio.ensure_future(committer.submit([rec(str(i))])) for i in (2, 3)]
    await asyncio.sleep(0)
    await asyncio.wait_for(committer.stop(), 1.0)
    assert [await asyncio.wait_for(q, 1.0) for q in queued] == [[1002], [1003]]
    assert db.committed == {"1", "2", "3"}
    assert await committer.submit([rec("4")]) == [1004]  # a submit after stop starts it again
    await committer.stop()
