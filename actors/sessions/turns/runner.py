"""Runs a session's turns one at a time: the running task, the bounded queue, stop.

A turn never raises to its caller: a timeout, a domain error or any model failure ends it with
`end/error`, and every turn ends with `close/processing`, after which the next queued ask starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from actors.config import SessionConfig
from actors.errors import ModelExecutionError, RaychatError, TurnBusy
from actors.frames import error_message
from actors.sessions.frame_log import FrameLog
from actors.sessions.keys import Ask, SessionKey
from actors.sessions.state import SessionState, StateMachine
from actors.sessions.turns.recording import TurnEmitter
from actors.sessions.turns.turn import Turn

# Turn failures keep the session's logger name: operators filter on it (docs/security.md).
log = logging.getLogger("actors.sessions.session")

TurnFactory = Callable[["PendingTurn", TurnEmitter], Awaitable[Turn]]


@dataclass(frozen=True, slots=True)
class PendingTurn:
    """An admitted ask, its question text (already checked against the app's input), and when
    it reached the host (event-loop time: what the turn must see of storage is what was
    committed before then)."""

    ask: Ask
    text: str
    asked_at: float


class TurnRunner:
    """The turns of one session. `new_turn` builds a turn (app refresh, context); `answered`
    gets each completed question and answer; `ended` runs after every turn."""

    def __init__(
        self,
        key: SessionKey,
        config: SessionConfig,
        machine: StateMachine,
        frames: Callable[[], FrameLog],
        *,
        new_turn: TurnFactory,
        answered: Callable[[str, str], None],
        ended: Callable[[], None],
        max_queued: int,
    ) -> None:
        self._key, self._config, self._machine, self._frames = key, config, machine, frames
        self._new_turn, self._answered, self._ended = new_turn, answered, ended
        self._max_queued = max_queued
        self._task: asyncio.Task[None] | None = None
        self._turn: Turn | None = None
        self._stopping = False
        self._queued: deque[PendingTurn] = deque()

    @property
    def busy(self) -> bool:
        """True while a turn runs or waits in the queue."""
        return self._machine.state is SessionState.RUNNING or bool(self._queued)

    def admit(self, pending: PendingTurn) -> None:
        """Start the turn now, or queue it behind the running one (`enqueue`, bounded); TurnBusy
        under `reject` or with a full queue."""
        if self._machine.state is SessionState.RUNNING:
            if self._config.busy_policy == "reject" or len(self._queued) >= self._max_queued:
                raise TurnBusy(chat_id=self._key.chat_id)
            self._queued.append(pending)
        else:
            self._launch(pending)

    def cancel(self) -> bool:
        """Drop the queue and cancel the running turn's task unless its answer is complete
        (or a stop is already under way). False when no turn runs."""
        self._queued.clear()
        if self._machine.state is not SessionState.RUNNING or self._task is None:
            return False
        if self._turn is not None and self._turn.stoppable and not self._stopping:
            self._stopping = True
            self._task.cancel()
        return True

    async def wait(self) -> None:
        """Return once no turn runs or waits."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def _launch(self, pending: PendingTurn) -> None:
        self._machine.move(SessionState.RUNNING)
        self._frames().begin_turn()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(pending))

    async def _run(self, pending: PendingTurn) -> None:
        ask, key = pending.ask, self._key
        emitter = TurnEmitter(self._frames(), key.flow_id, key.chat_id, ask.user_id)
        limit = self._config.turn_timeout_s or None
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                answer = await self._answer(pending, emitter)
            self._answered(pending.text, answer)
        except asyncio.CancelledError:
            if self._turn is None:
                raise
            await self._finish_stopped(self._turn, emitter)
        except TimeoutError as exc:  # the wall-clock limit, or a model's own timeout
            reason = "turn timed out" if deadline.expired() else type(exc).__name__
            err = ModelExecutionError(error=reason, timeout_s=limit)
            emitter.emit("end", "error", message=error_message(err.code, err.message, err.data))
        except RaychatError as exc:
            emitter.emit("end", "error", message=error_message(exc.code, exc.message, exc.data))
        except Exception as exc:  # a model or chain failure: the client gets a code, not a trace
            # The operator gets the trace (the client only the code and the exception's class).
            log.exception("turn failed: flow %s chat %s", key.flow_id, key.chat_id)
            err = ModelExecutionError(error=type(exc).__name__)
            emitter.emit("end", "error", message=error_message(err.code, err.message, err.data))
        finally:
            emitter.emit("close", "processing")
            self._turn = None
            self._machine.move(SessionState.WAITING_OBJECT)
            self._ended()
            self._next_queued()

    async def _answer(self, pending: PendingTurn, emitter: TurnEmitter) -> str:
        turn = await self._new_turn(pending, emitter)
        self._turn = turn
        return await turn.run(pending.text, pending.ask.inputs, pending.ask.client_msg_id)

    async def _finish_stopped(self, turn: Turn, emitter: TurnEmitter) -> None:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()  # the stop is handled: what follows must not be cancelled
        try:
            await turn.finish_stopped()
        except Exception as exc:
            log.exception("stopped turn not stored: chat %s", self._key.chat_id)
            err = ModelExecutionError(
                "Stopped, but the partial answer was not stored", error=type(exc).__name__
            )
            emitter.emit("end", "error", message=error_message(err.code, err.message, err.data))

    def _next_queued(self) -> None:
        if self._queued and self._machine.state is SessionState.WAITING_OBJECT:
            self._launch(self._queued.popleft())
