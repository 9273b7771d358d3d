"""Per-chat frame log: numbers frames with `seq`, keeps the running and the last turn (within a
count and a byte bound), and lets any number of readers pull batches of what they have not seen
yet."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from actors.frames import Frame, WireFrame, frame_json, logged_seq


class FrameLog:
    """Frames of one chat, in `seq` order.

    Not thread-safe; used from one event loop. Readers never see a gap: `read_after(n)` returns
    every retained frame with `seq > n`, or reports through `oldest_seq` that frames were dropped.
    At most `max_frames` frames and about `max_bytes` bytes (their JSON) are kept, the newest
    frame always (0 turns a bound off): every append trims the oldest frames beyond them, so
    neither a long turn nor a stream of dividers grows a log without bound.
    """

    def __init__(
        self,
        start_seq: int = 1,
        on_append: Callable[[Frame], None] | None = None,
        on_trim: Callable[[int], None] | None = None,
        max_frames: int = 0,
        max_bytes: int = 0,
    ) -> None:
        self._frames: deque[Frame] = deque()
        self._wire: deque[WireFrame] = deque()
        self._sizes: deque[int] = deque()
        self._bytes = 0
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._next_seq = start_seq
        self._on_append = on_append
        self._on_trim = on_trim
        self._turn_starts: deque[int] = deque()
        self._changed = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every append (a frame channel marks the chat dirty)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling `listener` (no error when it is not registered)."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @property
    def last_seq(self) -> int:
        """The seq of the newest frame (0 before any)."""
        return self._next_seq - 1

    @property
    def oldest_seq(self) -> int:
        """The seq of the oldest retained frame (next seq when empty)."""
        return logged_seq(self._frames[0]) if self._frames else self._next_seq

    def begin_turn(self) -> None:
        """Mark a turn start and drop turns older than the previous one."""
        self._turn_starts.append(self._next_seq)
        while len(self._turn_starts) > 2:
            self._turn_starts.popleft()
        keep_from = self._turn_starts[0]
        while self._frames and logged_seq(self._frames[0]) < keep_from:
            self._drop_oldest()
        if self._on_trim is not None:
            self._on_trim(keep_from)

    def append(self, frame: Frame) -> int:
        """Number the frame, retain it and wake readers. Returns its seq."""
        seq = self._next_seq
        self._next_seq += 1
        frame["seq"] = seq
        self._frames.append(frame)
        data = frame_json(frame)  # serialized once, here; relayed as this text
        self._wire.append(WireFrame(seq, frame["type"], frame["category"], data.decode("utf-8")))
        size = len(data) if self._max_bytes else 0
        self._sizes.append(size)
        self._bytes += size
        self._changed.set()
        for listener in self._listeners:
            listener()
        if self._on_append is not None:
            self._on_append(frame)
        self._trim_to_bounds()
        return seq

    @property
    def retained_bytes(self) -> int:
        """The JSON size of the retained frames (0 when the byte bound is off)."""
        return self._bytes

    def _over_bounds(self) -> bool:
        if len(self._frames) <= 1:
            return False
        too_many = 0 < self._max_frames < len(self._frames)
        return too_many or 0 < self._max_bytes < self._bytes

    def _trim_to_bounds(self) -> None:
        if not self._over_bounds():
            return
        while self._over_bounds():
            self._drop_oldest()
        if self._on_trim is not None:
            self._on_trim(self.oldest_seq)

    def _drop_oldest(self) -> None:
        self._frames.popleft()
        self._wire.popleft()
        self._bytes -= self._sizes.popleft()

    def read_after(self, after_seq: int) -> list[Frame]:
        """Every retained frame with `seq > after_seq`, oldest first."""
        if not self._frames or after_seq >= self.last_seq:
            return []
        start = max(0, after_seq + 1 - self.oldest_seq)
        return [self._frames[i] for i in range(start, len(self._frames))]

    def read_wire_after(self, after_seq: int) -> list[WireFrame]:
        """Like `read_after`, as serialized frames (what a frame channel relays)."""
        if not self._wire or after_seq >= self.last_seq:
            return []
        start = max(0, after_seq + 1 - self.oldest_seq)
        return [self._wire[i] for i in range(start, len(self._wire))]

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
