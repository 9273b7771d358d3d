"""A chat session: the coordinator of its state machine, admission, model context and turns.

One `SessionActor` per `(flow_id, chat_id)`. It is a plain object living inside a `SessionHost`
(or alone in a dedicated Ray actor); all its methods run on one event loop, so the state machine
needs no locks. Everything it knows is rebuilt from storage on activation. Each role has its own
collaborator: `StateMachine` (state.py), `Admission` (admission.py: owner, deleted chats, repeated
asks), `ModelContext` (model_context.py) and `TurnRunner` (turns/runner.py: one turn at a time,
the queue, stop). The lifecycle contract of each method is in its docstring and summarized in
docs/architecture.md ("Session lifecycle").
"""

from __future__ import annotations

import asyncio
import time

from actors.config import SessionConfig
from actors.errors import InvalidInput
from actors.frames import WatchPoint
from actors.sessions.admission import Admission
from actors.sessions.apps import AppLoader, LoadedApp
from actors.sessions.frame_archiver import FrameArchiver
from actors.sessions.frame_log import FrameLog
from actors.sessions.keys import Ask, SessionKey
from actors.sessions.model_context import CLEAR_MARKER, ModelContext
from actors.sessions.state import IllegalTransition, SessionState, StateMachine
from actors.sessions.storage_port import StoragePort
from actors.sessions.turns.recording import TurnEmitter, TurnRecorder
from actors.sessions.turns.runner import PendingTurn, TurnRunner
from actors.sessions.turns.turn import Turn

__all__ = ["Ask", "IllegalTransition", "SessionActor", "SessionKey", "SessionState"]

SEEN_CLIENT_IDS = 1024


class SessionActor:
    """Coordinates one session. Concurrency: every method runs on the host's event loop; the
    synchronous ones (`check_viewer`, `start_turn`, `stop`, `cancel`, `mark_context_stale`) are
    atomic, the async ones (`activate`, `admit`, `clear_context`, `wait_turn`) may interleave at
    their awaits with each other and with the running turn's task. Only one turn runs at a time
    (the state machine, not a lock); the turn runs in its own task and never raises."""

    def __init__(
        self,
        key: SessionKey,
        storage: StoragePort,
        config: SessionConfig,
        archiver: FrameArchiver | None = None,
        apps: AppLoader | None = None,
    ) -> None:
        self.key = key
        self.frames = FrameLog()
        self.last_used = asyncio.get_running_loop().time()
        self._storage = storage
        self._config = config
        self._archiver = archiver
        self._apps = apps or AppLoader(storage)
        self._app: LoadedApp | None = None
        self._app_read_at = float("-inf")  # when the read that `_app` is current as of began
        self._machine = StateMachine()
        self._admission = Admission(key, storage, SEEN_CLIENT_IDS)
        self._context = ModelContext(
            storage, key.chat_id, key.flow_id, key.persist, config.context_messages
        )
        self._turns = TurnRunner(
            key,
            config,
            self._machine,
            lambda: self.frames,  # activation replaces the frame log: read it at each turn
            new_turn=self._new_turn,
            answered=self._context.add_exchange,
            ended=self.touch,
            max_queued=config.max_queued_turns,
        )

    @property
    def state(self) -> SessionState:
        return self._machine.state

    @property
    def owner_id(self) -> int | None:
        """The chat's owner once known (activation or the first admission), else None."""
        return self._admission.owner_id

    @property
    def busy(self) -> bool:
        """True while a turn runs or waits in the queue (passivation skips busy sessions)."""
        return self._turns.busy

    @property
    def app_name(self) -> str | None:
        """The app's name once activated (for the monitor)."""
        return self._app.info.name if self._app is not None else None

    def touch(self) -> None:
        """Record use (idle passivation looks at this)."""
        self.last_used = asyncio.get_running_loop().time()

    # -- activation --------------------------------------------------------------------------
    async def activate(self) -> None:
        """Load the app, compile it, load the owner and rebuild the model context.

        init -> init_object -> waiting_object. Called once, by the host, before any other
        method (the host shares one activation per key). On failure the state returns to
        `init`, nothing is kept and the error propagates (FlowDeleted, FlowInvalid, Forbidden
        for another app's chat, storage errors); IllegalTransition if not in `init`.
        """
        self._machine.move(SessionState.INIT_OBJECT)
        read_at = asyncio.get_running_loop().time()
        try:
            app = await self._apps.load(self.key.kind, self.key.flow_id)
            owner = await self._admission.read_owner()
            # No session row, no messages: every message is written with (question) or after
            # (answer) its chat's session row, so a chat nobody created has no history to read.
            context = await self._context.read() if owner is not None else []
        except BaseException:
            self._machine.move(SessionState.INIT)
            raise
        self._app, self._admission.owner_id, self._context.messages = app, owner, context
        self._app_read_at = read_at
        self.frames = await self._new_frame_log(owner is not None)
        self._machine.move(SessionState.WAITING_OBJECT)

    async def _new_frame_log(self, chat_exists: bool) -> FrameLog:
        """A frame log whose seq continues the chat's: after the archived frames when there is
        an archive, else above any seq an earlier incarnation can have used (< 1M frames/s)."""
        start = 1
        if chat_exists:
            start = time.time_ns() // 1000
        most, size = self._config.frame_log_max_frames, self._config.frame_log_max_bytes
        if self._archiver is None or not self.key.persist:
            return FrameLog(start_seq=start, max_frames=most, max_bytes=size)
        archived = await self._archiver.last_seq(self.key.text)
        if archived:
            start = archived + 1
        chat, archiver = self.key.text, self._archiver
        return FrameLog(
            start_seq=start,
            on_append=lambda frame: archiver.publish(chat, frame),
            on_trim=lambda keep_from: archiver.trim(chat, keep_from),
            max_frames=most,
            max_bytes=size,
        )

    async def _refresh_app(self, asked_at: float) -> LoadedApp:
        """Pick up a changed app before a turn (a read per turn; rebuild only on change). An
        app read that began after the ask arrived already shows every change committed before
        it (a chat's first turn, activated by its ask): no second read."""
        assert self._app is not None
        if self._app_read_at >= asked_at:
            return self._app
        read_at = asyncio.get_running_loop().time()
        revision = await self._apps.revision(self.key.kind, self.key.flow_id)
        if revision != self._app.revision:
            self._app = await self._apps.load(self.key.kind, self.key.flow_id)
        self._app_read_at = read_at
        return self._app

    # -- admission ---------------------------------------------------------------------------
    async def admit(self, user_id: int, *, write: bool = False) -> WatchPoint:
        """Decide whether `user_id` may use this chat; returns where its frame log stands.

        The owner is whoever storage says first created the chat: the first admission of an
        incarnation claims the chat in storage (creating its session row when it has none), so
        the owner exists before any frame is relayed. A preview's owner is its first user.
        Raises Forbidden for another user's chat or another app's. A deleted chat: its owner
        may still watch it (`write=False` returns the watch point), `write=True` raises
        Conflict; the claim is read once per incarnation, so a chat deleted later is not seen
        here (deleting a chat drops its live session: `SessionHost.drop`).
        Concurrency: may run during a turn (it changes nothing the turn reads); concurrent
        admissions agree, as storage decides one owner. A storage failure propagates and the
        next admission claims again.
        """
        await self._admission.claim(user_id, self._app.info if self._app is not None else None)
        point = self.check_viewer(user_id)
        if write:
            self._admission.check_writable()
        return point

    def check_viewer(self, user_id: int) -> WatchPoint:
        """Allow the owner (only) to watch this chat; returns where its frame log stands.

        Raises Forbidden for anyone else, and for everyone while no owner is known (the chat
        is claimed by `admit`; nothing is open to all). Synchronous, changes nothing."""
        self._admission.check_viewer(user_id)
        return WatchPoint(self.frames.last_seq, self.frames.oldest_seq)

    def start_turn(self, ask: Ask, asked_at: float | None = None) -> int:
        """Admit an ask that reached the host at `asked_at` (event-loop time; now if None);
        returns the seq from which its frames appear.

        Refuses other users' chats (Forbidden), deleted chats (Conflict) and asks without the
        app's input (InvalidInput); IllegalTransition before activation. A repeated
        `client_msg_id` starts nothing and returns the first seq of the original turn (also
        while a turn runs). While a turn runs: `reject` raises TurnBusy, `enqueue` queues
        (at most `max_queued_turns`, then TurnBusy). Synchronous: the turn runs in its own task
        and never raises: failures end it with an error frame and `close/processing`.
        """
        if self.state is not SessionState.RUNNING:
            self._machine.check(SessionState.RUNNING)
        self.check_viewer(ask.user_id)
        self._admission.check_writable()
        seen = self._admission.first_seq_of(ask.client_msg_id)
        if seen is not None:
            return seen
        text = self._question_text(ask)
        first_seq = self.frames.last_seq + 1
        if asked_at is None:
            asked_at = asyncio.get_running_loop().time()
        self._turns.admit(PendingTurn(ask, text, asked_at))
        self._admission.remember(ask.client_msg_id, first_seq)
        return first_seq

    def _question_text(self, ask: Ask) -> str:
        assert self._app is not None
        key = self._app.input_key
        text = ask.inputs.get(key)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"inputs.{key} must be a non-empty string", field=f"inputs.{key}")
        return text

    def has_seen(self, client_msg_id: str) -> bool:
        """True when this incarnation already admitted an ask with this id."""
        return self._admission.has_seen(client_msg_id)

    # -- the turn ----------------------------------------------------------------------------
    async def _new_turn(self, pending: PendingTurn, emitter: TurnEmitter) -> Turn:
        """The turn of an ask, on the current app revision and context (runs in its task)."""
        app = await self._refresh_app(pending.asked_at)
        context = await self._context.for_turn()
        recorder = TurnRecorder(
            self._storage, app.info, self.key.chat_id, pending.ask.user_id, self.key.persist
        )
        return app.new_turn(emitter, recorder, context)

    async def wait_turn(self) -> None:
        """Wait until no turn runs or waits (tests and passivation), queued turns included.
        Cancelling the wait does not cancel the turn."""
        await self._turns.wait()

    # -- stop and clear ----------------------------------------------------------------------
    def stop(self, user_id: int) -> bool:
        """Stop the running turn: cancel the model task. Returns False when no turn runs.

        Forbidden for anyone but the owner, idle or not. Idle: returns False and does nothing
        else (no frame: the asking socket answers `close/processing` itself). Running: queued
        asks are dropped; the turn's task is cancelled, its partial answer stored as
        `break_answer`, then `end/answer` and `close/processing`. A turn whose answer is
        already complete is not cancelled and finishes normally; a second stop cancels nothing
        more. Both return True. Synchronous; the stopped turn ends in its own task.
        """
        self.check_viewer(user_id)
        return self.cancel()

    def cancel(self) -> bool:
        """`stop` without the viewer check (the host uses it when a chat is deleted): drops
        the queue; idle, returns False and does nothing else."""
        return self._turns.cancel()

    def mark_context_stale(self) -> None:
        """Stored messages changed outside this session's turns: rebuild the model context from
        storage before the next turn (not now: a running turn keeps the context it started with).
        Synchronous; a failing rebuild ends that next turn with an error frame."""
        self._context.mark_stale()

    async def clear_context(self, user_id: int) -> int | None:
        """Empty the model context for the next turn; stored history stays.

        Persists a divider row (`remark=clear_history`) so a later activation, on any host,
        starts from the same empty context, and appends `end/divider` with its id. Returns the
        message id (None for previews, which store and emit nothing). Admits first, as a write
        (Forbidden for another user's chat, Conflict for a deleted one; an unclaimed chat is
        claimed). During a turn it runs at once, without waiting: the running turn keeps the
        context it started with (one still checking its app revision starts from the empty
        one), and its question and answer join the emptied context when it completes (a
        stopped or failed turn adds nothing), so the next turn starts from that exchange only;
        `end/divider` lands among the turn's frames. If storing the divider fails, the error
        propagates with the live context already empty (storage keeps the old one for the
        next activation).
        """
        await self.admit(user_id, write=True)
        self._context.clear()
        if not self.key.persist or self.owner_id is None or self._app is None:
            return None
        recorder = TurnRecorder(self._storage, self._app.info, self.key.chat_id, user_id, True)
        row = recorder.row(
            is_bot=True,
            message="Context cleared",
            type_="end",
            category="divider",
            remark=CLEAR_MARKER,
        )
        [message_id] = await recorder.save([row])
        emitter = TurnEmitter(self.frames, self.key.flow_id, self.key.chat_id, user_id)
        emitter.emit("end", "divider", message="Context cleared", message_id=message_id)
        return message_id
