"""Group commit: rows from many callers are written in one transaction per batch.

A batch is flushed when `max_rows` rows are waiting or the oldest op has waited `max_delay_s`.
Each caller's future resolves only after its batch committed. A batch that fails on its rows (one
caller's bad text, say) is isolated: its ops are written again one by one, so only the bad op fails,
with its own error, and every other caller's rows commit (row keys and event keys make the rewrite
idempotent). A batch that fails because the database is unavailable fails every caller in it at once
(they may retry with the same row keys). The queue is bounded: when it is full, `submit` waits
(back-pressure) instead of dropping rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from actors.metrics import NO_METRICS, ClusterMetrics
from actors.storage_actor.errors import is_row_error
from storage.records import (
    AuditRecord,
    MessageRecord,
    SessionRecord,
    TelemetryRecord,
    WriteBatch,
)

BatchWriter = Callable[[WriteBatch], Awaitable[dict[str, int]]]
"""`Repository.bulk_write`: one batch in one transaction, `row_key -> id` of its messages."""


@dataclass(frozen=True, slots=True)
class WriteOp:
    """One caller's rows and the future that receives their message ids."""

    rows: WriteBatch
    done: asyncio.Future[list[int]]

    @property
    def size(self) -> int:
        """Rows this op adds to a batch."""
        return self.rows.size


@dataclass(frozen=True, slots=True)
class FlushStats:
    """What the last flush did (for metrics and tests)."""

    ops: int
    rows: int
    seconds: float


class GroupCommitter:
    """Collects WriteOps and flushes them in batches from one background task."""

    def __init__(
        self,
        write: BatchWriter,
        max_rows: int,
        max_delay_s: float,
        max_queue: int,
        isolate: Callable[[Exception], bool] = is_row_error,
        metrics: ClusterMetrics = NO_METRICS,
    ) -> None:
        self._write = write
        self._metrics = metrics
        self._isolate = isolate
        self._max_rows = max_rows
        self._max_delay_s = max_delay_s
        self._queue: asyncio.Queue[WriteOp] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self.flushes: list[FlushStats] = []

    @property
    def depth(self) -> int:
        """Ops waiting to be flushed."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the flusher task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Commit what is queued, then stop the flusher.

        Waiting callers: every op submitted before `stop` is answered before it returns, with
        its ids once its batch committed or with the batch's error. The batch the flusher is
        writing when `stop` is called is waited for, never cancelled mid-write; queued ops are
        flushed by the flusher (or here, when none runs). A `submit` after `stop` starts the
        flusher again. Not concurrent with itself; it takes as long as the write in flight and
        the queued batches take (each bounded by the statement timeout).
        """
        task = self._task
        if task is not None and not task.done():
            await self._queue.join()  # each op taken off the queue has been answered
            task.cancel()  # idle: waiting for the next op
            await asyncio.wait([task])
        while not self._queue.empty():
            await self._flush(await self._collect())

    async def submit(
        self,
        messages: Sequence[MessageRecord],
        sessions: Sequence[SessionRecord] = (),
        telemetry: Sequence[TelemetryRecord] = (),
        audit: Sequence[AuditRecord] = (),
    ) -> list[int]:
        """Queue rows and wait until they are committed; returns message ids in order.

        Waits while the queue is full. Raises whatever the database raised for the batch.
        """
        self.start()
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        rows = WriteBatch(tuple(messages), tuple(sessions), tuple(telemetry), tuple(audit))
        op = WriteOp(rows, done)
        await self._queue.put(op)
        return await done

    async def _run(self) -> None:
        while True:
            await self._flush(await self._collect())

    async def _collect(self) -> list[WriteOp]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        rows = batch[0].size
        deadline = loop.time() + self._max_delay_s
        while rows < self._max_rows:
            op = self._next_nowait() or await self._next_until(deadline)
            if op is None:
                break
            batch.append(op)
            rows += op.size
        return batch

    def _next_nowait(self) -> WriteOp | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def _next_until(self, deadline: float) -> WriteOp | None:
        # asyncio.timeout_at, not wait_for: no extra Task per awaited op (Python 3.11).
        if deadline <= asyncio.get_running_loop().time():
            return None
        try:
            async with asyncio.timeout_at(deadline):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def _flush(self, batch: list[WriteOp]) -> None:
        try:
            await self._write_batch(batch)
        finally:
            for _ in batch:
                self._queue.task_done()  # what `stop` waits for

    async def _write_batch(self, batch: list[WriteOp]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        rows = _batch_rows(batch)
        try:
            ids = await self._write(rows)
        except Exception as exc:
            if len(batch) > 1 and self._isolate(exc):
                await self._write_one_by_one(batch)
            else:  # the database is unavailable: every caller of the batch learns it
                _fail(batch, exc)
            return
        _acknowledge(batch, ids)  # after COMMIT only: an acknowledged id is durable
        self.flushes.append(FlushStats(len(batch), rows.size, loop.time() - started))
        del self.flushes[:-100]
        self._metrics.flushed(rows.size, self.flushes[-1].seconds, self._queue.qsize())

    async def _write_one_by_one(self, batch: list[WriteOp]) -> None:
        # One transaction per op: the bad op fails alone. Ops are independent (their own row
        # keys), so this order commits exactly what the batch would have, minus the bad op.
        for op in batch:
            try:
                ids = await self._write(op.rows)
            except Exception as exc:
                _fail([op], exc)
            else:
                _acknowledge([op], ids)


def _fail(ops: list[WriteOp], exc: Exception) -> None:
    for op in ops:
        if not op.done.done():
            op.done.set_exception(exc)


def _acknowledge(ops: list[WriteOp], ids: dict[str, int]) -> None:
    for op in ops:
        if not op.done.done():
            op.done.set_result([ids[m.row_key] for m in op.rows.messages])


def _batch_rows(batch: list[WriteOp]) -> WriteBatch:
    """Every row of a batch, per table, in op order (one pass over the ops)."""
    messages: list[MessageRecord] = []
    sessions: list[SessionRecord] = []
    telemetry: list[TelemetryRecord] = []
    audit: list[AuditRecord] = []
    for op in batch:
        messages += op.rows.messages
        if op.rows.sessions:
            sessions += op.rows.sessions
        if op.rows.telemetry:
            telemetry += op.rows.telemetry
        if op.rows.audit:
            audit += op.rows.audit
    return WriteBatch(messages, sessions, telemetry, audit)
