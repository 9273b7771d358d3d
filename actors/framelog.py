"""Per-chat frame log: numbers frames with `seq`, keeps the running and the last turn, and lets
any number of readers pull batches of what they have not seen yet."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from actors.events import Frame


class FrameLog:
    """Frames of one chat, in `seq` order.

    Not thread-safe; used from one event loop. Readers never see a gap: `read_after(n)` returns
    every retained frame with `seq > n`, or reports through `oldest_seq` that frames were dropped.
    """

    def __init__(
        self,
        start_seq: int = 1,
        on_append: Callable[[Frame], None] | None = None,
        on_trim: Callable[[int], None] | None = None,
    ) -> None:
        self._frames: deque[Frame] = deque()
        self._next_seq = start_seq
        self._on_append = on_append
        self._on_trim = on_trim
        self._turn_starts: deque[int] = deque()
        self._changed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        """The seq of the newest frame (0 before any)."""
        return self._next_seq - 1

    @property
    def oldest_seq(self) -> int:
        """The seq of the oldest retained frame (next seq when empty)."""
        return int(self._frames[0]["seq"]) if self._frames else self._next_seq

    def begin_turn(self) -> None:
        """Mark a turn start and drop turns older than the previous one."""
        self._turn_starts.append(self._next_seq)
        while len(self._turn_starts) > 2:
            self._turn_starts.popleft()
        keep_from = self._turn_starts[0]
        while self._frames and self._frames[0]["seq"] < keep_from:
            self._frames.popleft()
        if self._on_trim is not None:
            self._on_trim(keep_from)

    def append(self, frame: Frame) -> int:
        """Number the frame, retain it and wake readers. Returns its seq."""
        seq = self._next_seq
        self._next_seq += 1
        frame["seq"] = seq
        self._frames.append(frame)
        self._changed.set()
        if self._on_append is not None:
            self._on_append(frame)
        return seq

    def read_after(self, after_seq: int) -> list[Frame]:
        """Every retained frame with `seq > after_seq`, oldest first."""
        if not self._frames or after_seq >= self.last_seq:
            return []
        start = max(0, after_seq + 1 - self.oldest_seq)
        return [self._frames[i] for i in range(start, len(self._frames))]

    async def wait_after(self, after_seq: int, timeout_s: float) -> list[Frame]:
        """Like `read_after`, but waits up to `timeout_s` for at least one frame.

        Everything that accumulated while the caller was away comes back in one batch, so under
        load batches grow and calls per second stay bounded.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            frames = self.read_after(after_seq)
            remaining = deadline - loop.time()
            if frames or remaining <= 0:
                return frames
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return []
