"""Replica side of a frame channel: one long-poll per session host, fanned out to local sockets.

Every chat a replica's sockets watch on one host rides the same `SessionHost.pull_channel`
long-poll; Ray calls then grow with hosts and with batches, not with chats, and an idle chat
costs none. A socket's pump subscribes (chat, user, cursor) and reads coalesced batches; several
subscriptions of one chat (multi-viewer, a resume) share the chat's entry, whose host cursor is
the lowest of theirs. Used from the replica's event loop only (no locks).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from actors.errors import ChatServiceError, Forbidden, RaychatError
from actors.frames import ChannelBatch, FrameBatch, RelayFrame, logged_seq
from actors.sessions.session import SessionKey

log = logging.getLogger(__name__)
# After a failed poll the channel waits this long before it polls again (with a reset).
RETRY_DELAY_S = 0.5

Watch = dict[SessionKey, tuple[int, int]]
PollFn = Callable[
    [str, Watch | None, dict[SessionKey, int], list[SessionKey], float], Awaitable[ChannelBatch]
]
WatchFn = Callable[[str, Watch], Awaitable[ChannelBatch]]


class Subscription:
    """One pump's view of a chat: frames after its cursor, coalesced while it is busy sending,
    at most `max_frames` pending (older ones are dropped: the pump sees the gap)."""

    def __init__(self, channel: HostChannel, key: SessionKey, user_id: int, after_seq: int):
        self._channel = channel
        self.key = key
        self.user_id = user_id
        self.cursor = after_seq
        self._frames: list[RelayFrame] = []
        self._oldest = 0
        self._live = True
        self._error: BaseException | None = None
        self._ready = asyncio.Event()
        self.closed = False

    async def next(self) -> FrameBatch:
        """The frames that arrived since the last call (waits for at least one), or
        `live=False` once the session is gone. Raises ChatServiceError when a poll failed
        (the channel retries by itself), Forbidden when the chat is not the user's."""
        while not (self._frames or self._error is not None or not self._live):
            self._ready.clear()
            await self._ready.wait()
        if self._frames:
            frames, self._frames = self._frames, []
            self.cursor = logged_seq(frames[-1])
            return FrameBatch(frames, live=True, oldest_seq=self._oldest)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return FrameBatch([], live=False)

    def close(self) -> None:
        """The pump ended: stop receiving."""
        if not self.closed:
            self.closed = True
            self._channel.unsubscribe(self)

    def _position(self) -> int:
        return logged_seq(self._frames[-1]) if self._frames else self.cursor

    def offer(self, batch: FrameBatch, max_frames: int) -> None:
        if not batch.live:
            self._live = False
        position = self._position()
        fresh = [f for f in batch.frames if logged_seq(f) > position]
        if fresh:
            first = logged_seq(fresh[0])
            if first > position + 1 and batch.oldest_seq <= position + 1:
                return  # the host had our frames but sent from a higher cursor: next poll
            self._frames.extend(fresh)
            self._oldest = batch.oldest_seq
            if 0 < max_frames < len(self._frames):
                del self._frames[: len(self._frames) - max_frames]
        self._ready.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.set()

    def end(self) -> None:
        self._live = False
        self._ready.set()


class HostChannel:
    """The frame channel of one replica to one session host."""

    def __init__(
        self,
        poll: PollFn,
        watch: WatchFn,
        poll_timeout_s: float,
        max_pending_frames: int = 20_000,
        host_gone: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self._poll = poll
        self._watch = watch
        self._poll_timeout_s = poll_timeout_s
        self._max_pending = max_pending_frames
        # Whether a failed poll means the host is gone for good (a dedicated host that exited):
        # the channel then ends its subscriptions instead of retrying. Injected by the Ray seam.
        self._host_gone = host_gone
        self.id = uuid.uuid4().hex
        self._subs: dict[SessionKey, set[Subscription]] = {}
        self._sent: dict[SessionKey, int] = {}  # the host's cursor per chat, as we last sent
        self._removed: set[SessionKey] = set()
        self._task: asyncio.Task[None] | None = None
        self._reset = True
        self.polls = 0
        self.closed = False

    @property
    def chats(self) -> int:
        """How many chats the channel carries."""
        return len(self._subs)

    def subscribe(self, key: SessionKey, user_id: int, after_seq: int) -> Subscription:
        """Start receiving `key`'s frames after `after_seq` (checked on the host: a chat that
        is not the user's ends the subscription with Forbidden)."""
        sub = Subscription(self, key, user_id, after_seq)
        if self.closed:
            sub.end()
            return sub
        subs = self._subs.setdefault(key, set())
        subs.add(sub)
        self._removed.discard(key)
        cursor = min(s.cursor for s in subs)
        known = self._sent.get(key)
        if self._task is None or self._task.done():
            self._reset = True
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif known is None or cursor < known or len(subs) == 1:
            self._sent[key] = cursor
            task = asyncio.get_running_loop().create_task(self._add(key, user_id, cursor))
            task.add_done_callback(_log_failure)
        return sub

    def closed_sub(self, key: SessionKey) -> Subscription:
        """A subscription that is over at once (`live=False`): its host does not exist."""
        sub = Subscription(self, key, 0, 0)
        sub.end()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.key)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.key]
            self._sent.pop(sub.key, None)
            self._removed.add(sub.key)

    async def _add(self, key: SessionKey, user_id: int, cursor: int) -> None:
        try:
            batch = await self._watch(self.id, {key: (user_id, cursor)})
        except ChatServiceError:
            # The host may never have heard of the chat (the call missed its deadline, or the
            # host restarted): the next poll sends the whole watch list again, so the chat is
            # watched by then whether or not this poll fails too.
            self._reset = True
            return
        if batch.known:
            self._dispatch(batch)
        else:  # the host lost the channel: the next poll sends the whole watch list again
            self._reset = True

    async def _run(self) -> None:
        while self._subs:
            reset, self._reset = self._reset, False
            watch = self._watch_list() if reset else None
            cursors = {} if reset else self._cursor_changes()
            removed, self._removed = list(self._removed), set()
            try:
                self.polls += 1
                batch = await self._poll(self.id, watch, cursors, removed, self._poll_timeout_s)
            except ChatServiceError as exc:
                if self._host_gone is not None and self._host_gone(exc):
                    self._close()
                    return
                self._fail_all(exc)
                self._reset = True
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            except RaychatError as exc:  # not expected from a poll; end rather than spin
                log.warning("frame channel poll refused: %s", exc)
                self._close()
                return
            except Exception as exc:  # a bug must not leave pumps waiting forever
                log.exception("frame channel poll failed")
                self._fail_all(ChatServiceError(f"frame channel failed: {exc!r}"))
                self._reset = True
                await asyncio.sleep(RETRY_DELAY_S)
                continue
            if not batch.known:
                self._reset = True
                continue
            self._dispatch(batch)
            self._rejoin(watch, removed)

    def _rejoin(self, watch: Watch | None, removed: list[SessionKey]) -> None:
        """Join again the chats this poll may have undone: Ray does not order an async actor's
        calls, so a chat's join (`watch_channel`) sent while the poll was in flight may have run
        on the host before the poll's reset (a chat not in its `watch`) or its removal of that
        chat (unsubscribed, then subscribed again). A join is idempotent, so one too many costs
        one short call."""
        keys = {k for k in removed if k in self._subs}
        if watch is not None:
            keys |= {k for k in self._subs if k not in watch}
        for key in keys:
            subs = self._subs[key]
            cursor = self._sent[key] = min(s._position() for s in subs)
            task = asyncio.get_running_loop().create_task(
                self._add(key, next(iter(subs)).user_id, cursor)
            )
            task.add_done_callback(_log_failure)

    def _fail_all(self, error: BaseException) -> None:
        for subs in list(self._subs.values()):
            for sub in subs:
                sub.fail(error)

    def _watch_list(self) -> Watch:
        watch: Watch = {}
        for key, subs in self._subs.items():
            cursor = min(s.cursor for s in subs)
            watch[key] = (next(iter(subs)).user_id, cursor)
            self._sent[key] = cursor
        return watch

    def _cursor_changes(self) -> dict[SessionKey, int]:
        changes = {}
        for key, subs in self._subs.items():
            cursor = min(s._position() for s in subs)
            if self._sent.get(key) != cursor:
                changes[key] = cursor
                self._sent[key] = cursor
        return changes

    def _dispatch(self, batch: ChannelBatch) -> None:
        for key, reason in batch.refused.items():
            for sub in self._subs.pop(key, set()):
                sub.fail(Forbidden(reason))
            self._sent.pop(key, None)
        for key, frames in batch.batches.items():
            subs = self._subs.get(key, set())
            for sub in subs:
                sub.offer(frames, self._max_pending)
            if not frames.live:
                self._subs.pop(key, None)
                self._sent.pop(key, None)

    def _close(self) -> None:
        self.closed = True
        for subs in self._subs.values():
            for sub in subs:
                sub.end()
        self._subs.clear()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("frame channel watch failed: %r", task.exception())
