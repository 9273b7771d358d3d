"""A session host: many virtual `SessionActor`s inside one Ray actor process.

Sessions are activated on first use and passivated after an idle timeout; a passivated session
is rebuilt from storage on its next use, so a host can die without losing context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from actors.config import SessionConfig
from actors.errors import DuplicateAsk, Forbidden, RateLimited
from actors.flows.compiler import compile_flow
from actors.flows.demo_graph import demo_model
from actors.frames import ChannelBatch, FrameBatch, WatchPoint
from actors.metrics import NO_METRICS, ClusterMetrics
from actors.sessions.activity import ActivityMeter, HostSummary, SessionSummary
from actors.sessions.apps import AppLoader
from actors.sessions.feed import ChannelFeed
from actors.sessions.frame_archiver import FrameArchiver
from actors.sessions.session import Ask, SessionActor, SessionKey
from actors.sessions.storage_port import StoragePort

# How often a host counts the frames its sessions appended (for the monitor's rates).
METER_INTERVAL_S = 1.0
# A flow run once when a host starts (`warm_up`): LangChain sets up its callback and tracing
# machinery (and imports its lazy modules) at the first run, ~1 s that the first chat paid.
WARM_UP_GRAPH = {
    "nodes": [
        {"id": "in", "type": "Input", "params": {"key": "input"}},
        {"id": "model", "type": "ChatModel", "params": demo_model(tokens_per_second=0)},
        {"id": "out", "type": "Output"},
    ],
    "edges": [{"source": "in", "target": "model"}, {"source": "model", "target": "out"}],
}


class SessionHost:
    """Hosts sessions by key. Every method may run concurrently with others (async actor);
    per-session ordering comes from each session's state machine. A failing activation leaves
    no session behind, so the next call retries it. `on_empty` runs when the last session is
    passivated or dropped (a dedicated host uses it to exit)."""

    def __init__(
        self,
        config: SessionConfig,
        storage: StoragePort,
        on_empty: Callable[[], None] | None = None,
        archiver: FrameArchiver | None = None,
        metrics: ClusterMetrics = NO_METRICS,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._storage = storage
        self._on_empty = on_empty
        self._archiver = archiver
        self._apps = AppLoader(storage, config.providers)
        self._sessions: dict[SessionKey, SessionActor] = {}
        self._activating: dict[SessionKey, asyncio.Task[SessionActor]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._meter = ActivityMeter()
        self._metering: asyncio.Task[None] | None = None
        self._feeds: dict[str, ChannelFeed] = {}
        self._warm: asyncio.Task[None] | None = None

    async def _session(self, key: SessionKey, user_id: int) -> SessionActor:
        self._start_sweeper()
        session = self._sessions.get(key)
        if session is not None:
            session.touch()
            return session
        self._check_session_cap(user_id)
        task = self._activating.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._activate(key))
            self._activating[key] = task
        return await asyncio.shield(task)

    def _check_session_cap(self, user_id: int) -> None:
        """RateLimited when `user_id` already owns `max_sessions_per_user` live sessions here
        (counted per host: a new session is refused before it is activated)."""
        cap = self._config.max_sessions_per_user
        if cap <= 0:
            return
        owned = sum(1 for s in self._sessions.values() if s.owner_id == user_id)
        if owned >= cap:
            raise RateLimited(
                f"Too many live sessions: at most {cap} per user",
                retry_after=max(1, round(self._config.idle_timeout_s)),
                limit=cap,
                scope="max_sessions_per_user",
            )

    async def _activate(self, key: SessionKey) -> SessionActor:
        try:
            session = SessionActor(key, self._storage, self._config, self._archiver, self._apps)
            await session.activate()
            self._sessions[key] = session
            self._notify_changed([key])  # a channel still holding the old incarnation follows it
            return session
        finally:
            self._activating.pop(key, None)

    async def start_turn(self, key: SessionKey, ask: Ask) -> int:
        """Activate the session if needed and admit an ask; returns the seq its frames start at.

        Raises TurnBusy, Forbidden, InvalidInput, FlowDeleted/FlowInvalid (activation), and
        DuplicateAsk for a `client_msg_id` an earlier incarnation of the session already ran,
        Conflict for a deleted chat, RateLimited over the per-user live-session cap.
        Returns once the turn is admitted, not when it ends; any error leaves no turn started.
        Concurrent asks on one chat: its state machine runs one, the others get TurnBusy
        (`reject`) or wait in its queue (`enqueue`)."""
        asked_at = asyncio.get_running_loop().time()
        session = await self._session(key, ask.user_id)
        await session.admit(ask.user_id, write=True)
        seen = ask.client_msg_id is None or session.has_seen(ask.client_msg_id)
        if not seen and key.persist:
            assert ask.client_msg_id is not None
            if await self._storage.find_client_message(key.chat_id, ask.client_msg_id):
                raise DuplicateAsk(chat_id=key.chat_id, client_msg_id=ask.client_msg_id)
        return session.start_turn(ask, asked_at)

    async def watch(self, key: SessionKey, user_id: int) -> WatchPoint:
        """Activate the session if needed and allow `user_id` to watch it; returns where its
        frame log stands. The first admission claims an unowned chat for `user_id` (see
        `SessionActor.admit`). Raises Forbidden for another user's chat. May run during a
        turn; concurrent first watches of an unowned chat agree (one owner, Forbidden for the
        others)."""
        return await (await self._session(key, user_id)).admit(user_id)

    async def stop(self, key: SessionKey, user_id: int) -> bool:
        """Stop the chat's running turn; False when nothing runs (or the session is not live).
        Forbidden for another user's chat, live or not (its owner is read from storage).
        Never activates a session; when idle nothing happens (no frame). During a turn see
        `SessionActor.stop`."""
        session = self._sessions.get(key)
        if session is not None and session.owner_id is not None:
            return session.stop(user_id)
        if key.persist:
            found = await self._storage.session_owner(key.chat_id)
            if found is not None and found[0] != user_id:
                raise Forbidden("This chat belongs to another user")
        return False  # no owner admitted yet: no turn can be running

    async def refresh_context(self, key: SessionKey) -> bool:
        """A live session re-reads its model context before its next turn; False when the
        session is not live (its next activation reads storage anyway). Never activates; a
        running turn keeps the context it started with."""
        session = self._sessions.get(key)
        if session is None:
            return False
        session.mark_context_stale()
        return True

    async def clear_context(self, key: SessionKey, user_id: int) -> int | None:
        """Empty the chat's model context for the next turn; returns the divider row id.

        Activates the session if needed; Forbidden for another user's chat, Conflict for a
        deleted one. During a turn it does not wait: the running turn keeps its context and
        its exchange joins the emptied one (`SessionActor.clear_context`)."""
        return await (await self._session(key, user_id)).clear_context(user_id)

    async def pull(
        self, key: SessionKey, user_id: int, after_seq: int, timeout_s: float
    ) -> FrameBatch:
        """Frames of `key` with seq > after_seq, waiting up to `timeout_s` for the first one.

        Concurrent-safe: any number of the owner's viewers may pull the same chat; anyone else
        gets Forbidden (checked on every pull, not only at watch). Does not activate a session
        that is not live (returns an empty batch with `live=False` instead), and does not
        count as use: a session only its pumps read is passivated when idle."""
        session = self._sessions.get(key)
        if session is None:
            return FrameBatch([], live=False)
        session.check_viewer(user_id)
        wait_s = min(timeout_s, self._config.pull_timeout_s)
        frames = await session.frames.wait_after(after_seq, wait_s)
        return FrameBatch(frames, live=True, oldest_seq=session.frames.oldest_seq)

    async def pull_channel(
        self,
        channel_id: str,
        watch: dict[SessionKey, tuple[int, int]] | None,
        cursors: dict[SessionKey, int],
        remove: list[SessionKey],
        timeout_s: float,
    ) -> ChannelBatch:
        """One long-poll of a frame channel: news of every chat the channel watches.

        `watch` (user_id, cursor by chat) not None resets the channel to exactly those chats
        (a replica's first poll, or after a failed one); `cursors` moves cursors, `remove`
        forgets chats. Returns as soon as any watched chat has frames after its cursor or its
        session is gone, else after `timeout_s` (capped by `pull_timeout_s`) with nothing.
        `known=False` when the channel is unknown and no `watch` was sent. Concurrent-safe
        with `watch_channel` (it wakes a waiting poll); one poll per channel at a time."""
        self._start_sweeper()
        loop = asyncio.get_running_loop()
        out = ChannelBatch()
        feed = self._feeds.get(channel_id)
        if watch is not None:
            if feed is not None and feed.provisional:
                feed.provisional = False  # keep the chats added before this first poll
            else:
                if feed is not None:
                    feed.forget_all()
                feed = self._feeds[channel_id] = ChannelFeed(loop.time())
            for key, (user_id, cursor) in watch.items():
                feed.watch(key, user_id, cursor, self._sessions.get(key), out)
        elif feed is None or feed.provisional:
            return ChannelBatch(known=False)
        feed.last_poll = loop.time()
        for key in remove:
            feed.forget(key)
        for key, cursor in cursors.items():
            feed.cursor(key, cursor)
        deadline = loop.time() + min(timeout_s, self._config.pull_timeout_s)
        linger_s = self._config.channel_linger_ms / 1000
        while True:
            feed.collect(self._sessions.get, out)
            remaining = deadline - loop.time()
            if out.batches or out.refused or remaining <= 0:
                if linger_s > 0 and out.batches and not out.refused:
                    await asyncio.sleep(linger_s)  # let more frames join this answer
                    feed.collect(self._sessions.get, out)
                return out
            feed.changed.clear()
            try:
                await asyncio.wait_for(feed.changed.wait(), remaining)
            except TimeoutError:
                return out
            finally:
                feed.last_poll = loop.time()

    async def watch_channel(
        self, channel_id: str, watch: dict[SessionKey, tuple[int, int]]
    ) -> ChannelBatch:
        """Add chats to a channel (user_id, cursor by chat) without waiting: the channel's
        waiting poll wakes and carries their frames. Answers at once the chats that are not
        live (`live=False`) or not the user's (`refused`). A channel not seen yet gets a
        provisional feed: this call may arrive before the channel's first poll (Ray does not
        order an async actor's calls), whose watch list then keeps these chats too; a poll
        without a watch list on it answers `known=False` (the replica resets with everything)."""
        self._start_sweeper()  # it expires a provisional feed whose poll never comes
        feed = self._feeds.get(channel_id)
        if feed is None:
            loop = asyncio.get_running_loop()
            feed = self._feeds[channel_id] = ChannelFeed(loop.time(), provisional=True)
        out = ChannelBatch()
        for key, (user_id, cursor) in watch.items():
            feed.watch(key, user_id, cursor, self._sessions.get(key), out)
        return out

    def _notify_changed(self, keys: list[SessionKey]) -> None:
        for feed in self._feeds.values():
            for key in keys:
                feed.gone(key)

    def _expire_feeds(self) -> None:
        """Forget channels nobody polled for a while (their replica is gone)."""
        cutoff = asyncio.get_running_loop().time() - 4 * self._config.pull_timeout_s - 30
        for channel_id in [c for c, f in self._feeds.items() if f.last_poll < cutoff]:
            self._feeds.pop(channel_id).forget_all()

    async def warm_up(self) -> int:
        """Run a tiny demo flow once per process (later calls wait for that one run), so the
        first real turn does not pay LangChain's first-run setup; returns `live_sessions`.
        Concurrent-safe; a failure is logged by the caller's error and retried next call."""
        if self._warm is None or (self._warm.done() and self._warm.exception() is not None):
            self._warm = asyncio.get_running_loop().create_task(_run_warm_up_flow())
        await asyncio.shield(self._warm)
        return len(self._sessions)

    async def live_sessions(self) -> int:
        """How many sessions this host holds."""
        return len(self._sessions)

    async def summary(self, limit: int) -> HostSummary:
        """A bounded picture of this host for the monitor: at most `limit` sessions (most
        recently used first), how many it holds, its activity window and recent error frames.

        Cheap and local (no storage or Ray call); safe to run concurrently with turns. Counts
        frames appended up to now first, so a turn that just ended is in the numbers."""
        self._tick()
        now = asyncio.get_running_loop().time()
        newest = sorted(self._sessions.values(), key=lambda s: s.last_used, reverse=True)
        sessions = [self._session_summary(s, now) for s in newest[: max(0, limit)]]
        return HostSummary(
            len(self._sessions), sessions, self._meter.buckets(), self._meter.errors()
        )

    def _session_summary(self, session: SessionActor, now: float) -> SessionSummary:
        key = session.key
        return SessionSummary(
            chat_id=key.chat_id,
            flow_id=key.flow_id,
            kind=key.kind,
            app_name=session.app_name,
            user_id=session.owner_id,
            state=str(session.state),
            turns=self._meter.turns(key.text),
            idle_s=round(0.0 if session.busy else max(0.0, now - session.last_used), 1),
            persist=key.persist,
        )

    async def drop(self, key: SessionKey) -> bool:
        """Stop and forget a session (its chat was deleted). False if it was not live. The last
        session dropped runs `on_empty` (a dedicated host exits, releasing its resources).
        During a turn: queued asks are dropped and the turn is cancelled as by a stop (it still
        stores its partial answer); the chat's channel subscriptions see it gone (`live=False`).
        Never activates."""
        session = self._sessions.pop(key, None)
        if session is None:
            return False
        session.cancel()
        self._notify_changed([key])
        self._emptied()
        return True

    def _emptied(self) -> None:
        if not self._sessions and not self._activating and self._on_empty is not None:
            self._on_empty()

    def _start_sweeper(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep_idle())
        if self._metering is None or self._metering.done():
            self._metering = loop.create_task(self._meter_activity())

    async def _meter_activity(self) -> None:
        while True:
            await asyncio.sleep(METER_INTERVAL_S)
            self._tick()

    def _tick(self) -> None:
        self._meter.tick({k.text: s for k, s in self._sessions.items()})
        self._metrics.live_sessions(len(self._sessions))

    async def _sweep_idle(self) -> None:
        interval = max(0.05, min(self._config.idle_timeout_s / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            self.passivate_idle()
            self._expire_feeds()

    def passivate_idle(self) -> int:
        """Forget sessions idle longer than the timeout; returns how many were passivated.
        Synchronous; a busy session (turn running or queued) is never passivated."""
        cutoff = asyncio.get_running_loop().time() - self._config.idle_timeout_s
        idle = [k for k, s in self._sessions.items() if not s.busy and s.last_used < cutoff]
        for key in idle:
            del self._sessions[key]
        if idle:
            self._notify_changed(idle)
            self._emptied()
        return len(idle)


async def _run_warm_up_flow() -> None:
    flow = await asyncio.to_thread(compile_flow, WARM_UP_GRAPH)
    async for _chunk in flow.astream(flow.prompt_inputs("warm up", [], {})):
        pass
