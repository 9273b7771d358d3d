"""Per-socket bookkeeping of the turns a socket started: the rate-limit lease each holds, turn
metrics, and the `application_process` telemetry event when the turn's `close` frame passes.

Only the socket that asked tracks a turn (other viewers just relay frames). A socket that goes
away hands its turns off: they go on, and keep their leases until their `close` frame (so
reconnecting after each ask does not get around the concurrent-turn limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from actors.frames import RelayFrame
from actors.metrics import TurnOutcome
from actors.sessions.apps import AppKind
from actors.sessions.session import SessionKey
from serve_app.limits import TurnLease
from serve_app.observability import metrics
from storage.records import utcnow

TurnDone = Callable[[SessionKey, datetime, datetime], Coroutine[Any, Any, None]]
# Waits until `count` turns of a chat after a seq have closed (the socket's frame pull).
TurnsClosed = Callable[[SessionKey, int, int], Coroutine[Any, Any, None]]
log = logging.getLogger(__name__)
# Turns handed off by closed sockets: referenced here until their leases are released.
_HANDED_OFF: set[asyncio.Task[None]] = set()


@dataclass
class _Turn:
    first_seq: int
    lease: TurnLease
    started: datetime = field(default_factory=utcnow)
    failed: bool = False
    stop_requested: bool = False


class TurnTracker:
    """Tracks this socket's open turns per chat, oldest first (the enqueue policy may queue
    several). Used from the socket's event loop only."""

    def __init__(self, kind: AppKind, on_done: TurnDone) -> None:
        self._kind = kind
        self._on_done = on_done
        self._turns: dict[SessionKey, deque[_Turn]] = {}
        self._background: set[asyncio.Task[None]] = set()

    def started(self, key: SessionKey, first_seq: int, lease: TurnLease) -> None:
        """A turn this socket asked for was admitted."""
        self._turns.setdefault(key, deque()).append(_Turn(first_seq, lease))
        metrics.turn_started(self._kind)

    def stop_requested(self, key: SessionKey) -> None:
        """This socket asked to stop the chat's running turn."""
        turns = self._turns.get(key)
        if turns:
            turns[0].stop_requested = True

    async def observe(self, key: SessionKey, frames: Sequence[RelayFrame]) -> None:
        """Account the frames relayed for `key`; ends tracked turns at their `close`."""
        turns = self._turns.get(key)
        if not turns:
            return
        metrics.tokens_streamed(self._kind, sum(f["type"] == "stream" for f in frames))
        for frame in frames:
            if not turns or frame["seq"] is None or frame["seq"] < turns[0].first_seq:
                continue
            if frame["category"] == "error":
                turns[0].failed = True
                metrics.turn_error(self._kind, frame)
            elif frame["type"] == "close":
                await self._end(key, turns.popleft())

    async def _end(self, key: SessionKey, turn: _Turn) -> None:
        outcome: TurnOutcome = (
            "failed" if turn.failed else "stopped" if turn.stop_requested else "finished"
        )
        metrics.turn_ended(self._kind, outcome)
        await turn.lease.release()
        self.run_later(self._on_done(key, turn.started, utcnow()))

    def run_later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run bookkeeping (telemetry) without holding up the chat."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def release_all(self) -> None:
        """Give back every lease this socket holds now."""
        for turns in self._turns.values():
            for turn in turns:
                await turn.lease.release()
        self._turns.clear()

    def hand_off(self, wait_closed: TurnsClosed) -> None:
        """The socket is closing: for each chat with open turns, a background task waits for
        their `close` frames (`wait_closed`), then releases their leases. Never raises; a
        failing wait releases at once (the lease expiry bounds the rest)."""
        loop = asyncio.get_running_loop()
        for key, turns in self._turns.items():
            if turns:
                waiting = wait_closed(key, turns[0].first_seq - 1, len(turns))
                task = loop.create_task(_release_after(waiting, list(turns)))
                _HANDED_OFF.add(task)
                task.add_done_callback(_HANDED_OFF.discard)
        self._turns.clear()


async def _release_after(waiting: Coroutine[Any, Any, None], turns: list[_Turn]) -> None:
    try:
        await waiting
    except Exception as exc:  # the host went away: its turns are over anyway
        log.debug("waiting for handed-off turns failed: %s", exc)
    finally:
        for turn in turns:
            await turn.lease.release()
