"""The per-socket budget of client frames: a token bucket (`RAYCHAT_RATE_FRAMES_PER_SECOND`,
a burst of twice that). Every client frame spends a token, whatever it is; a frame that finds
the bucket empty is dropped and answered with a 429 error frame."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from actors.errors import RateLimited
from serve_app.observability import metrics

Clock = Callable[[], float]
BURST_SECONDS = 2.0


class FrameRate:
    """Token bucket of one socket (one event loop: no locks). A rate of 0 is off."""

    def __init__(self, per_second: float, clock: Clock = time.monotonic) -> None:
        self._rate = per_second
        self._capacity = max(1.0, per_second * BURST_SECONDS)
        self._tokens = self._capacity
        self._clock = clock
        self._at = clock()

    def spend(self) -> None:
        """Spend one frame's token; RateLimited (with `retry_after`) when none is left."""
        if self._rate <= 0:
            return
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return
        metrics.RATE_LIMITED.labels("frames").inc()
        raise RateLimited(
            f"Too many frames: at most {self._rate:g} per second on one socket",
            retry_after=max(1, math.ceil((1.0 - self._tokens) / self._rate)),
            limit=self._rate,
            scope="frames_per_second",
        )
