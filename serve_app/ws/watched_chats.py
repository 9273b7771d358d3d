"""The chats one socket watches: one frame pump per chat, at most `RAYCHAT_WS_MAX_CHATS`, least
recently used first. Used from the socket's event loop only (no locks)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from actors.errors import RateLimited
from actors.sessions.session import SessionKey

# Chats remembered as announced (`session_created` sent) when the chat cap is off.
ANNOUNCED_MAX = 1024


class WatchedChats:
    """Pumps by chat. A new chat beyond the cap evicts the least recently used chat without a
    turn in flight (its pump is cancelled); when every watched chat is mid-turn it is refused
    with RateLimited (429, `scope: ws_max_chats`). A cap of 0 is off."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._pumps: OrderedDict[SessionKey, asyncio.Task[None]] = OrderedDict()
        self._in_turn: set[SessionKey] = set()
        self._announced: set[SessionKey] = set()

    def chats(self) -> list[SessionKey]:
        """Watched chats, least recently used first."""
        return list(self._pumps)

    def is_pumping(self, key: SessionKey) -> bool:
        """True while `key` has a running pump."""
        pump = self._pumps.get(key)
        return pump is not None and not pump.done()

    def make_room(self, key: SessionKey) -> None:
        """Before `key` joins the watched chats: forget finished pumps, evict if needed."""
        if self.is_pumping(key):
            self._pumps.move_to_end(key)
            return
        for done in [k for k, pump in self._pumps.items() if pump.done()]:
            self._forget(done)
        if self._cap <= 0 or len(self._pumps) < self._cap:
            return
        idle = next((k for k in self._pumps if k not in self._in_turn), None)
        if idle is None:
            raise RateLimited(
                f"Too many chats on one socket: at most {self._cap} at once",
                retry_after=1,
                limit=self._cap,
                scope="ws_max_chats",
            )
        self._pumps[idle].cancel()
        self._forget(idle)

    def start(self, key: SessionKey, pump: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `pump()` for `key` unless a pump runs already; `key` becomes the most recent."""
        if not self.is_pumping(key):
            self._pumps[key] = asyncio.get_running_loop().create_task(pump())
        self._pumps.move_to_end(key)

    def stop(self, key: SessionKey) -> None:
        """Cancel `key`'s pump (a resume restarts it from another seq)."""
        pump = self._pumps.pop(key, None)
        if pump is not None:
            pump.cancel()

    def stop_all(self) -> None:
        """The socket is closing."""
        for pump in self._pumps.values():
            pump.cancel()

    def set_in_turn(self, key: SessionKey, in_turn: bool) -> None:
        """Whether `key` has a turn in flight (such a chat is never evicted)."""
        if in_turn:
            self._in_turn.add(key)
        else:
            self._in_turn.discard(key)

    def first_announcement(self, key: SessionKey) -> bool:
        """True the first time `key` is announced (bounded: repeats are harmless)."""
        if key in self._announced:
            return False
        if len(self._announced) >= ANNOUNCED_MAX:
            self._announced.clear()
        self._announced.add(key)
        return True

    def _forget(self, key: SessionKey) -> None:
        self._pumps.pop(key, None)
        self._in_turn.discard(key)
        self._announced.discard(key)
