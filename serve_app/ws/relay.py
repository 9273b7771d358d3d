"""A socket's frame relay: one pump per watched chat, from its host's frame channel to the client.

A pump ends when its session is no longer live or no longer the user's to watch. A turn that
its host loses (the host died or restarted) is ended for the client here: an error frame and
`close/processing`, so a client never waits for a `close` that cannot come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from actors.errors import ChatServiceError, RaychatError
from actors.frames import Frame, RelayFrame, logged_seq
from actors.ray.registry import Runtime
from actors.sessions.channel import Subscription
from actors.sessions.session import SessionKey
from serve_app.errors import error_frame
from serve_app.ws.outbox import Outbox
from serve_app.ws.turn_tracker import TurnTracker
from serve_app.ws.watched_chats import WatchedChats


class FrameRelay:
    """The pumps of one socket (kept in `watched`); each relays its chat's frames in order,
    reporting gaps, and accounts turns with the tracker before the client sees their `close`.
    A pump retries a failing channel `retries` times in a row, then ends."""

    def __init__(
        self,
        runtime: Runtime,
        user_id: int,
        outbox: Outbox,
        watched: WatchedChats,
        tracker: TurnTracker,
        *,
        retries: int,
        lease_s: float,
    ) -> None:
        self._runtime, self._user_id, self._out = runtime, user_id, outbox
        self._watched, self._tracker = watched, tracker
        self._retries, self._lease_s = retries, lease_s

    def start(self, key: SessionKey, after_seq: int) -> None:
        """Pump `key` from `after_seq` on (replacing a pump of it that already runs)."""
        self._watched.start(key, lambda: self._pump(key, after_seq))

    def gap_info(self, key: SessionKey, after_seq: int, first_kept: int) -> Frame:
        """The info frame naming frames that are gone for good."""
        text = (
            f"Frames {after_seq + 1}..{first_kept - 1} are no longer kept; "
            "read the chat history over REST"
        )
        return self._out.frame("info", "processing", key.flow_id, key.chat_id, message=text)

    async def _pump(self, key: SessionKey, after_seq: int) -> None:
        """Relay the chat's frames after `after_seq` until the session is no longer live. The
        frames come through the replica's frame channel to the chat's host (one long-poll per
        host for all chats, see actors/sessions/channel.py)."""
        sub = await self._runtime.subscribe(key, self._user_id, after_seq)
        try:
            await self._relay(key, sub, after_seq)
        finally:
            sub.close()

    async def _relay(self, key: SessionKey, sub: Subscription, after_seq: int) -> None:
        failures, in_turn = 0, False
        while failures <= self._retries:
            try:
                batch = await sub.next()
            except ChatServiceError as exc:
                failures += 1
                if in_turn:  # the host died mid-turn
                    await self._end_turn_here(key, exc)
                    in_turn = False
                continue
            except RaychatError:  # no longer this user's to watch (Forbidden): stop relaying
                return
            failures = 0
            if batch.frames:
                after_seq, in_turn = await self._deliver(key, batch.frames, after_seq, in_turn)
            elif not batch.live:
                if in_turn:  # the host restarted mid-turn
                    lost = ChatServiceError("The session host restarted or its node was lost; the turn was lost")
                    await self._end_turn_here(key, lost)
                return

    async def _deliver(
        self, key: SessionKey, frames: Sequence[RelayFrame], after_seq: int, in_turn: bool
    ) -> tuple[int, bool]:
        """Send a batch (after a gap's info frame); returns the new cursor and turn state."""
        first = logged_seq(frames[0])
        if first > after_seq + 1:
            await self._out.send([self.gap_info(key, after_seq, first)])
        # Account first: once a client sees `close`, the turn's metrics are final.
        await self._tracker.observe(key, frames)
        await self._out.send(frames)
        in_turn = _still_in_turn(frames, in_turn)
        self._watched.set_in_turn(key, in_turn)
        return logged_seq(frames[-1]), in_turn

    async def _end_turn_here(self, key: SessionKey, exc: RaychatError) -> None:
        """The turn is gone with its host: end it for this client."""
        close = self._out.frame("close", "processing", key.flow_id, key.chat_id)
        await self._out.send([error_frame(exc, key.flow_id, key.chat_id), close])

    async def wait_turns_closed(self, key: SessionKey, after_seq: int, turns: int) -> None:
        """After the socket closed: return once `turns` turns of `key` after `after_seq` have
        sent their `close` (or the session is gone, or their leases expired anyway)."""
        timeout_s = self._runtime.config.sessions.pull_timeout_s
        async with asyncio.timeout(self._lease_s):
            while turns > 0:
                batch = await self._runtime.pull(key, self._user_id, after_seq, timeout_s)
                if not batch.frames and not batch.live:
                    return
                turns -= sum(1 for f in batch.frames if f["type"] == "close")
                after_seq = logged_seq(batch.frames[-1]) if batch.frames else after_seq


def _still_in_turn(frames: Sequence[RelayFrame], in_turn: bool) -> bool:
    for frame in frames:
        if frame["type"] == "begin":
            in_turn = True
        elif frame["type"] == "close":
            in_turn = False
    return in_turn
