"""The WebSocket layer's telemetry events of one replica, written in batches.

`application_process` (one per turn), `application_alive` (one per connection) and
`new_message_session` (one per chat) used to cost one storage call each: at 100 chats streaming,
a sixth of the storage actor's calls (docs/benchmarks.md, "Streaming end to end"). Queued here,
every event waiting when a flush starts goes out in one call, `FLUSH_S` after the first of them.

Telemetry is never acknowledged to a client, so this is the one write that is not committed
before its caller goes on: a replica that dies loses the events of its last `FLUSH_S` (at most
`MAX_PENDING`; beyond that new events are dropped and counted, as a failed write is).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from storage.records import TelemetryRecord

log = logging.getLogger(__name__)
FLUSH_S = 0.5
MAX_BATCH = 500  # events per storage call
MAX_PENDING = 10_000

Write = Callable[[Sequence[TelemetryRecord]], Awaitable[None]]


class TelemetryQueue:
    """Events waiting for their batched write. Used from one event loop at a time (a replica's);
    `put` never blocks and never raises. `write` is expected not to raise (it logs and counts
    its failures); if it does, the batch is logged as dropped and later events still go out."""

    def __init__(
        self,
        write: Write,
        on_dropped: Callable[[int], None],
        flush_s: float = FLUSH_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._write, self._on_dropped = write, on_dropped
        self._flush_s, self._max_pending = flush_s, max_pending
        self._pending: list[TelemetryRecord] = []
        self._drainer: asyncio.Task[None] | None = None

    def put(self, event: TelemetryRecord) -> None:
        """Queue `event`; it is written within `flush_s` plus one storage call."""
        if len(self._pending) >= self._max_pending:
            self._on_dropped(1)
            return
        self._pending.append(event)
        loop = asyncio.get_running_loop()
        drainer = self._drainer
        if drainer is None or drainer.done() or drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())

    @property
    def pending(self) -> int:
        """Events not yet handed to a write."""
        return len(self._pending)

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(self._flush_s)
            batch, self._pending = self._pending, []
            for start in range(0, len(batch), MAX_BATCH):
                chunk = batch[start : start + MAX_BATCH]
                try:
                    await self._write(chunk)
                except Exception:  # keep draining: later events must not wait on this one
                    log.exception("telemetry write failed: %d events dropped", len(chunk))
                    self._on_dropped(len(chunk))
