"""Where relaying a watched chat starts: the connection's chat (deferred, so a first `resume`
can decide), a chat the socket switched to, or a `resume` from the client's last seq (with
archived frames replayed first when the host no longer holds them)."""

from __future__ import annotations

import asyncio

from actors.frames import logged_seq
from actors.ray.registry import Runtime
from actors.sessions.session import SessionKey
from serve_app.ws.outbox import Outbox
from serve_app.ws.relay import FrameRelay
from serve_app.ws.watched_chats import WatchedChats


class Watching:
    """Starts the pumps of one socket's watched chats. Each start authorizes through
    `Runtime.watch` first (Forbidden for another user's chat, raised to the caller)."""

    def __init__(
        self,
        runtime: Runtime,
        user_id: int,
        relay: FrameRelay,
        outbox: Outbox,
        watched: WatchedChats,
        *,
        defer_s: float,
    ) -> None:
        self._runtime, self._user_id, self._relay, self._out = runtime, user_id, relay, outbox
        self._watched, self._defer_s = watched, defer_s
        self._deferred: tuple[SessionKey, int] | None = None
        self._deferred_timer: asyncio.TimerHandle | None = None

    async def watch_deferred(self, key: SessionKey) -> None:
        """Authorize and activate the connection's chat now, but start relaying it only at the
        client's first frame (or after a short grace): if that frame is a `resume`, relaying
        starts at the client's `last_seq` instead, so nothing arrives twice or out of order."""
        point = await self._runtime.watch(key, self._user_id)
        self._deferred = (key, point.newest_seq)
        self._deferred_timer = asyncio.get_running_loop().call_later(
            self._defer_s, self.start_deferred
        )

    def start_deferred(self) -> None:
        """Start the deferred relay now (if one waits)."""
        if self._deferred_timer is not None:
            self._deferred_timer.cancel()
            self._deferred_timer = None
        if self._deferred is not None:
            key, after = self._deferred
            self._deferred = None
            self._relay.start(key, after)

    def close(self) -> None:
        """The socket is done: a deferred relay never starts."""
        if self._deferred_timer is not None:
            self._deferred_timer.cancel()

    async def watch_current(self, key: SessionKey) -> None:
        """Relay a chat the socket switched to from its newest frame (unless already pumped)."""
        if not self._watched.is_pumping(key):
            point = await self._runtime.watch(key, self._user_id)
            self._relay.start(key, point.newest_seq)

    async def resume(self, key: SessionKey, last_seq: int) -> None:
        """Relay `key` after the client's `last_seq`: what the host keeps, after what the
        archive has of the frames before that (an info frame names what is gone)."""
        point = await self._runtime.watch(key, self._user_id)
        if self._deferred is not None and self._deferred[0] == key:
            self._deferred = None  # this resume decides where relaying the chat starts
        self.start_deferred()
        self._watched.stop(key)
        after = last_seq
        if after + 1 < point.oldest_seq:
            after = await self._replay_archived(key, after, point.oldest_seq - 1)
        self._relay.start(key, min(after, point.newest_seq))

    async def _replay_archived(self, key: SessionKey, after: int, last: int) -> int:
        """Send archived frames after `after` up to `last` (a restarted host no longer holds
        them); an info frame says what is gone for good. Returns the last seq delivered."""
        frames = await self._runtime.archived_frames(key, after + 1, last)
        if not frames or logged_seq(frames[0]) != after + 1:
            first_kept = logged_seq(frames[0]) if frames else last + 1
            await self._out.send([self._relay.gap_info(key, after, first_kept)])
        await self._out.send(frames)
        return last
