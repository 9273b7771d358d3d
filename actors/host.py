"""A session host: many virtual `SessionActor`s inside one Ray actor process.

Sessions are activated on first use and passivated after an idle timeout; a passivated session
is rebuilt from storage on its next use, so a host can die without losing context.
"""

from __future__ import annotations

import asyncio

from actors.config import SessionConfig
from actors.events import FrameBatch
from actors.ports import StoragePort
from actors.session import Ask, SessionActor, SessionKey


class SessionHost:
    """Hosts sessions by key. Every method may run concurrently with others (async actor);
    per-session ordering comes from each session's state machine. A failing activation leaves
    no session behind, so the next call retries it."""

    def __init__(self, config: SessionConfig, storage: StoragePort) -> None:
        self._config = config
        self._storage = storage
        self._sessions: dict[SessionKey, SessionActor] = {}
        self._activating: dict[SessionKey, asyncio.Task[SessionActor]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def _session(self, key: SessionKey) -> SessionActor:
        self._start_sweeper()
        session = self._sessions.get(key)
        if session is not None:
            session.touch()
            return session
        task = self._activating.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._activate(key))
            self._activating[key] = task
        return await asyncio.shield(task)

    async def _activate(self, key: SessionKey) -> SessionActor:
        try:
            session = SessionActor(key, self._storage, self._config)
            await session.activate()
            self._sessions[key] = session
            return session
        finally:
            self._activating.pop(key, None)

    async def start_turn(self, key: SessionKey, ask: Ask) -> int:
        """Activate the session if needed and start a turn; returns its first frame's seq.

        Raises TurnBusy when a turn already runs, FlowDeleted/FlowInvalid when the session
        cannot be activated."""
        session = await self._session(key)
        return session.start_turn(ask)

    async def pull(self, key: SessionKey, after_seq: int, timeout_s: float) -> FrameBatch:
        """Frames of `key` with seq > after_seq, waiting up to `timeout_s` for the first one.

        Concurrent-safe: any number of viewers may pull the same chat. Does not activate a
        session that is not live (returns an empty batch with `live=False` instead)."""
        session = self._sessions.get(key)
        if session is None:
            return FrameBatch([], live=False)
        session.touch()
        wait_s = min(timeout_s, self._config.pull_timeout_s)
        return FrameBatch(await session.frames.wait_after(after_seq, wait_s), live=True)

    async def live_sessions(self) -> int:
        """How many sessions this host holds."""
        return len(self._sessions)

    def _start_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_idle())

    async def _sweep_idle(self) -> None:
        loop = asyncio.get_running_loop()
        interval = max(1.0, self._config.idle_timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            cutoff = loop.time() - self._config.idle_timeout_s
            for key, session in list(self._sessions.items()):
                if not session.busy and session.last_used < cutoff:
                    del self._sessions[key]
