"""What a session host reports to the monitor: a bounded summary of its sessions and a rolling
window of its activity (turns, streamed tokens, error frames) in fixed wall-clock buckets.

The meter reads the sessions' own frame logs (no hook in the turn path): each tick counts the
frames appended since the previous tick, so a tick costs O(new frames), never a Ray call.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.frames import Frame
from actors.sessions.frame_log import FrameLog

# Bucket width and how many buckets a host keeps (10 s x 60 = the last 10 minutes).
BUCKET_S = 10
BUCKETS = 60
# Newest error frames a host remembers for the monitor.
RECENT_ERRORS = 20


class Metered(Protocol):
    """What the meter needs of a session."""

    @property
    def frames(self) -> FrameLog: ...


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One live session as the monitor shows it."""

    chat_id: str
    flow_id: str
    kind: str
    app_name: str | None
    user_id: int | None
    state: str
    turns: int
    idle_s: float
    persist: bool


@dataclass(frozen=True, slots=True)
class Bucket:
    """Activity of one `BUCKET_S`-second slot starting at `start` (Unix seconds)."""

    start: int
    turns: int = 0
    tokens: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class ErrorSeen:
    """An error frame a turn emitted."""

    time: float
    chat_id: str
    flow_id: str
    code: int | None
    message: str


@dataclass(frozen=True, slots=True)
class HostSummary:
    """A host's answer to `summary`: sessions (newest use first, at most the limit asked),
    how many it holds in all, and its activity window."""

    live: int
    sessions: list[SessionSummary]
    buckets: list[Bucket]
    errors: list[ErrorSeen]
    node: dict[str, str] = field(default_factory=dict)


@dataclass
class _Slot:
    start: int
    turns: int = 0
    tokens: int = 0
    errors: int = 0


class ActivityMeter:
    """Counts turns (begin frames), tokens (stream frames) and error frames per session.

    Not thread-safe; used from one event loop. `tick` takes the sessions held now; a session
    seen for the first time is counted from its oldest retained frame (a log holds only frames
    of its own activation, so nothing is counted twice)."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._seen: dict[str, int] = {}
        self._turns: dict[str, int] = {}
        self._slots: deque[_Slot] = deque(maxlen=BUCKETS)
        self._errors: deque[ErrorSeen] = deque(maxlen=RECENT_ERRORS)

    def tick(self, sessions: dict[str, Metered]) -> None:
        """Count the frames appended since the last tick; forget sessions no longer held."""
        for text, session in sessions.items():
            log = session.frames
            last = self._seen.get(text, 0)
            if last > log.last_seq:  # a new frame log (cannot go backwards otherwise)
                last = 0
            for frame in log.read_after(last):
                self._count(text, frame)
            self._seen[text] = log.last_seq
        for text in [t for t in self._seen if t not in sessions]:
            del self._seen[text]
            self._turns.pop(text, None)

    def turns(self, text: str) -> int:
        """Turns the session started since this host activated it."""
        return self._turns.get(text, 0)

    def buckets(self) -> list[Bucket]:
        """The activity window, oldest bucket first (empty buckets omitted)."""
        return [Bucket(s.start, s.turns, s.tokens, s.errors) for s in self._slots]

    def errors(self) -> list[ErrorSeen]:
        """The newest error frames, oldest first."""
        return list(self._errors)

    def _slot(self) -> _Slot:
        start = int(self._clock()) // BUCKET_S * BUCKET_S
        if not self._slots or self._slots[-1].start != start:
            self._slots.append(_Slot(start))
        return self._slots[-1]

    def _count(self, text: str, frame: Frame) -> None:
        kind, category = frame.get("type"), frame.get("category")
        if kind == "begin":
            self._turns[text] = self._turns.get(text, 0) + 1
            self._slot().turns += 1
        elif kind == "stream":
            self._slot().tokens += 1
        elif category == "error":
            self._slot().errors += 1
            self._errors.append(_error_of(frame, self._clock()))


def _error_of(frame: Frame, now: float) -> ErrorSeen:
    message = frame.get("message")
    code, text = None, str(message)
    if isinstance(message, dict):
        raw = message.get("status_code")
        code = raw if isinstance(raw, int) else None
        text = str(message.get("status_message", ""))
    return ErrorSeen(now, str(frame.get("chat_id")), str(frame.get("flow_id")), code, text[:300])
