"""Host side of a frame channel: one long-poll per (ingress replica, session host) carries the
frames of every chat that replica's sockets watch on this host.

The replica names the chats it watches (with their owner and a cursor); the host checks each one
once when it is added (owner only, as `SessionHost.pull` does), keeps the cursor the replica last
sent and marks a chat dirty when its frame log grows, so a poll touches only chats with news and an
idle chat costs nothing. The host never advances a cursor itself: a lost answer is simply sent
again, so polls are idempotent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.errors import Forbidden
from actors.frames import ChannelBatch, FrameBatch
from actors.sessions.session import SessionActor, SessionKey


@dataclass(slots=True)
class _Entry:
    user_id: int
    cursor: int
    session: SessionActor
    listener: Callable[[], None]


@dataclass
class ChannelFeed:
    """The chats one replica watches on this host. Used from the host's event loop only."""

    last_poll: float
    # Made by a `watch_channel` that arrived before the channel's first poll (Ray does not order
    # an async actor's calls): its chats join that poll's watch list instead of being lost.
    provisional: bool = False
    entries: dict[SessionKey, _Entry] = field(default_factory=dict)
    dirty: set[SessionKey] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def watch(
        self,
        key: SessionKey,
        user_id: int,
        cursor: int,
        session: SessionActor | None,
        out: ChannelBatch,
    ) -> None:
        """Add `key` (or move its cursor). A chat that is not live is answered `live=False`, a
        chat `user_id` may not watch is refused in `out.refused`; neither is kept."""
        entry = self.entries.get(key)
        if entry is not None and entry.session is session and entry.user_id == user_id:
            entry.cursor = cursor
            self._mark(key)
            return
        self.forget(key)
        if session is None:
            out.batches[key] = FrameBatch([], live=False)
            return
        try:
            session.check_viewer(user_id)
        except Forbidden as exc:
            out.refused[key] = exc.message
            return
        listener = self._listener(key)
        session.frames.add_listener(listener)
        self.entries[key] = _Entry(user_id, cursor, session, listener)
        self._mark(key)

    def cursor(self, key: SessionKey, cursor: int) -> None:
        """The replica delivered up to `cursor` (an unknown chat is ignored)."""
        entry = self.entries.get(key)
        if entry is not None:
            entry.cursor = cursor

    def forget(self, key: SessionKey) -> None:
        entry = self.entries.pop(key, None)
        self.dirty.discard(key)
        if entry is not None:
            entry.session.frames.remove_listener(entry.listener)

    def forget_all(self) -> None:
        for key in list(self.entries):
            self.forget(key)

    def gone(self, key: SessionKey) -> None:
        """`key`'s session was passivated, dropped or activated again: the next poll looks
        (`live=False`, or it follows the new incarnation)."""
        if key in self.entries:
            self._mark(key)

    def collect(self, live: Callable[[SessionKey], SessionActor | None], out: ChannelBatch) -> None:
        """Frames after the cursor of every dirty chat; chats whose session is gone are
        answered `live=False` and forgotten."""
        dirty, self.dirty = self.dirty, set()
        for key in dirty:
            entry = self.entries.get(key)
            if entry is None:
                continue
            current = live(key)
            if current is not entry.session and not self._rebind(key, entry, current, out):
                continue
            log = entry.session.frames
            frames = log.read_wire_after(entry.cursor)
            if frames:
                out.batches[key] = FrameBatch(frames, live=True, oldest_seq=log.oldest_seq)

    def _rebind(
        self, key: SessionKey, entry: _Entry, current: SessionActor | None, out: ChannelBatch
    ) -> bool:
        """`key`'s session was replaced (passivated, then activated again): follow the new one
        if the user may still watch it (its seqs continue above the old ones: the pump sees a
        gap, as a pull did); else the chat leaves the channel (`live=False` / refused)."""
        if current is None:
            self.forget(key)
            out.batches[key] = FrameBatch([], live=False)
            return False
        try:
            current.check_viewer(entry.user_id)
        except Forbidden as exc:
            self.forget(key)
            out.refused[key] = exc.message
            return False
        entry.session.frames.remove_listener(entry.listener)
        current.frames.add_listener(entry.listener)
        entry.session = current
        return True

    def _listener(self, key: SessionKey) -> Callable[[], None]:
        return lambda: self._mark(key)

    def _mark(self, key: SessionKey) -> None:
        self.dirty.add(key)
        self.changed.set()
