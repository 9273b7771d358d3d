"""A chat session: its state machine, cached app object, model context and frame log.

One `SessionActor` per `(flow_id, chat_id)`. It is a plain object living inside a `SessionHost`
(or alone in a dedicated Ray actor); all its methods run on one event loop, so the state machine
needs no locks. Everything it knows is rebuilt from storage on activation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from actors.config import SessionConfig
from actors.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    ModelExecutionError,
    RaychatError,
    TurnBusy,
)
from actors.frames import WatchPoint, error_message
from actors.sessions.apps import AppKind, AppLoader, LoadedApp
from actors.sessions.frame_archiver import FrameArchiver
from actors.sessions.frame_log import FrameLog
from actors.sessions.model_context import CLEAR_MARKER, context_from_rows
from actors.sessions.placement import ProfileName
from actors.sessions.storage_port import StoragePort
from actors.sessions.turns.recording import TurnEmitter, TurnRecorder
from actors.sessions.turns.turn import Turn
from storage.records import SessionClaim, SessionRecord

MAX_QUEUED_TURNS = 16
SEEN_CLIENT_IDS = 1024

log = logging.getLogger(__name__)


class SessionState(StrEnum):
    """Bisheng's per-chat context states, plus `running` for a turn in progress."""

    INIT = "init"
    INIT_OBJECT = "init_object"
    WAITING_OBJECT = "waiting_object"
    RUNNING = "running"


_ALLOWED: dict[SessionState, frozenset[SessionState]] = {
    SessionState.INIT: frozenset({SessionState.INIT_OBJECT}),
    SessionState.INIT_OBJECT: frozenset({SessionState.WAITING_OBJECT, SessionState.INIT}),
    SessionState.WAITING_OBJECT: frozenset({SessionState.RUNNING, SessionState.INIT}),
    SessionState.RUNNING: frozenset({SessionState.WAITING_OBJECT}),
}


class IllegalTransition(RuntimeError):
    """A state change the machine does not allow (a bug, never a client error)."""


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Identity of a session. `persist=False` marks a preview chat (nothing stored).

    `dedicated` (not part of the identity) names the placement profile when its sessions run
    in their own Ray actor; routing reads it, the session itself does not."""

    flow_id: str
    chat_id: str
    persist: bool = True
    kind: AppKind = "flow"
    dedicated: ProfileName | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        return f"{self.flow_id}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class Ask:
    """One question, already authenticated and validated by the ingress."""

    user_id: int
    inputs: dict[str, Any] = field(default_factory=dict)
    client_msg_id: str | None = None


class SessionActor:
    """State machine, turn admission (busy policy, idempotency), stop and clear."""

    def __init__(
        self,
        key: SessionKey,
        storage: StoragePort,
        config: SessionConfig,
        archiver: FrameArchiver | None = None,
        apps: AppLoader | None = None,
    ) -> None:
        self.key = key
        self.state = SessionState.INIT
        self.frames = FrameLog()
        self.owner_id: int | None = None
        self._claim: SessionClaim | None = None
        self.last_used = asyncio.get_running_loop().time()
        self._storage = storage
        self._config = config
        self._archiver = archiver
        self._apps = apps or AppLoader(storage)
        self._app: LoadedApp | None = None
        self._context: list[BaseMessage] = []
        self._task: asyncio.Task[None] | None = None
        self._turn: Turn | None = None
        self._stopping = False
        self._queued: deque[tuple[Ask, str]] = deque()
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._context_stale = False

    # -- state machine -----------------------------------------------------------------------
    def _check_move(self, target: SessionState) -> None:
        if target not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state} -> {target}")

    def _move(self, target: SessionState) -> None:
        self._check_move(target)
        self.state = target

    @property
    def busy(self) -> bool:
        """True while a turn runs or waits in the queue."""
        return self.state is SessionState.RUNNING or bool(self._queued)

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

        init -> init_object -> waiting_object; on failure the state returns to `init` and the
        error propagates (FlowDeleted, FlowInvalid, Forbidden, storage errors).
        """
        self._move(SessionState.INIT_OBJECT)
        try:
            app = await self._apps.load(self.key.kind, self.key.flow_id)
            owner = await self._load_owner()
            context = await self._load_context()
        except BaseException:
            self._move(SessionState.INIT)
            raise
        self._app, self.owner_id, self._context = app, owner, context
        self.frames = await self._new_frame_log(owner is not None)
        self._move(SessionState.WAITING_OBJECT)

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

    async def _refresh_app(self) -> LoadedApp:
        """Pick up a changed app before a turn (a read per turn; rebuild only on change)."""
        assert self._app is not None
        revision = await self._apps.revision(self.key.kind, self.key.flow_id)
        if revision != self._app.revision:
            self._app = await self._apps.load(self.key.kind, self.key.flow_id)
        return self._app

    async def _load_owner(self) -> int | None:
        if not self.key.persist:
            return None
        found = await self._storage.session_owner(self.key.chat_id)
        if found is not None and found[1] != self.key.flow_id:
            raise Forbidden("This chat belongs to another app")
        return None if found is None else found[0]

    async def _load_context(self) -> list[BaseMessage]:
        limit = self._config.context_messages
        if not self.key.persist or limit == 0:
            return []
        rows = await self._storage.history(self.key.chat_id, self.key.flow_id, None, 4 * limit + 8)
        return context_from_rows(rows, limit)

    # -- admission ---------------------------------------------------------------------------
    async def admit(self, user_id: int, *, write: bool = False) -> WatchPoint:
        """Decide whether `user_id` may use this chat; returns where its frame log stands.

        The owner is whoever storage says first created the chat: the first admission of an
        incarnation claims the chat in storage (creating its session row when it has none), so
        the owner exists before any frame is relayed. A preview's owner is its first user.
        Raises Forbidden for another user's chat or another app's, Conflict for a write into a
        deleted chat. Concurrent admissions agree: storage decides one owner.
        """
        if not self.key.persist:
            if self.owner_id is None:
                self.owner_id = user_id
        elif self._claim is None:
            self._claim = await self._claim_chat(user_id)
            self.owner_id = self._claim.user_id
        point = self.check_viewer(user_id)
        if write:
            self._check_writable()
        return point

    async def _claim_chat(self, user_id: int) -> SessionClaim:
        assert self._app is not None, "admission follows activation"
        info = self._app.info
        record = SessionRecord(
            chat_id=self.key.chat_id,
            flow_id=self.key.flow_id,
            flow_type=info.flow_type,
            flow_name=info.name,
            user_id=user_id,
            flow_description=info.description,
            flow_logo=info.logo,
        )
        claim = await self._storage.claim_session(record)
        if claim.flow_id != self.key.flow_id:
            raise Forbidden("This chat belongs to another app")
        return claim

    def check_viewer(self, user_id: int) -> WatchPoint:
        """Allow the owner (only) to watch this chat; returns where its frame log stands.

        Raises Forbidden for anyone else, and for everyone while no owner is known (the chat
        is claimed by `admit`; nothing is open to all)."""
        if self.owner_id is None or user_id != self.owner_id:
            raise Forbidden("This chat belongs to another user")
        return WatchPoint(self.frames.last_seq, self.frames.oldest_seq)

    def start_turn(self, ask: Ask) -> int:
        """Admit an ask; returns the seq from which its frames appear.

        Refuses other users' chats (Forbidden) and asks without the app's input (InvalidInput).
        A repeated `client_msg_id` starts nothing and returns the first seq of the original
        turn. While a turn runs: `reject` raises TurnBusy, `enqueue` queues (bounded). The turn
        itself never raises: failures end it with an error frame.
        """
        if self.state is not SessionState.RUNNING:
            self._check_move(SessionState.RUNNING)
        self.check_viewer(ask.user_id)
        self._check_writable()
        if ask.client_msg_id is not None and ask.client_msg_id in self._seen:
            return self._seen[ask.client_msg_id]
        text = self._question_text(ask)
        first_seq = self.frames.last_seq + 1
        if self.state is SessionState.RUNNING:
            if self._config.busy_policy == "reject" or len(self._queued) >= MAX_QUEUED_TURNS:
                raise TurnBusy(chat_id=self.key.chat_id)
            self._queued.append((ask, text))
        else:
            self._launch(ask, text)
        self._remember(ask.client_msg_id, first_seq)
        return first_seq

    def _check_writable(self) -> None:
        if self._claim is not None and self._claim.is_delete:
            raise Conflict("This chat was deleted; use a new chat_id", chat_id=self.key.chat_id)

    def _question_text(self, ask: Ask) -> str:
        assert self._app is not None
        key = self._app.input_key
        text = ask.inputs.get(key)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"inputs.{key} must be a non-empty string", field=f"inputs.{key}")
        return text

    def has_seen(self, client_msg_id: str) -> bool:
        """True when this incarnation already admitted an ask with this id."""
        return client_msg_id in self._seen

    def _remember(self, client_msg_id: str | None, first_seq: int) -> None:
        if client_msg_id is None:
            return
        self._seen[client_msg_id] = first_seq
        while len(self._seen) > SEEN_CLIENT_IDS:
            self._seen.popitem(last=False)

    def _launch(self, ask: Ask, text: str) -> None:
        self._move(SessionState.RUNNING)
        self.frames.begin_turn()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run_turn(ask, text))

    # -- the turn ----------------------------------------------------------------------------
    async def _run_turn(self, ask: Ask, text: str) -> None:
        emitter = TurnEmitter(self.frames, self.key.flow_id, self.key.chat_id, ask.user_id)
        limit = self._config.turn_timeout_s or None
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                answer = await self._answer(ask, text, emitter)
            self._context += [HumanMessage(text), AIMessage(answer)]
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
            log.exception("turn failed: flow %s chat %s", self.key.flow_id, self.key.chat_id)
            err = ModelExecutionError(error=type(exc).__name__)
            emitter.emit("end", "error", message=error_message(err.code, err.message, err.data))
        finally:
            emitter.emit("close", "processing")
            self._turn = None
            self._move(SessionState.WAITING_OBJECT)
            self.touch()
            self._next_queued()

    async def _answer(self, ask: Ask, text: str, emitter: TurnEmitter) -> str:
        app = await self._refresh_app()
        if self._context_stale:  # messages changed outside turns (REST edits)
            self._context_stale = False
            self._context = await self._load_context()
        recorder = TurnRecorder(
            self._storage, app.info, self.key.chat_id, ask.user_id, self.key.persist
        )
        turn = app.new_turn(emitter, recorder, list(self._context))
        self._turn = turn
        return await turn.run(text, ask.inputs, ask.client_msg_id)

    async def _finish_stopped(self, turn: Turn, emitter: TurnEmitter) -> None:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()  # the stop is handled: what follows must not be cancelled
        try:
            await turn.finish_stopped()
        except Exception as exc:
            log.exception("stopped turn not stored: chat %s", self.key.chat_id)
            err = ModelExecutionError(
                "Stopped, but the partial answer was not stored", error=type(exc).__name__
            )
            emitter.emit("end", "error", message=error_message(err.code, err.message, err.data))

    def _next_queued(self) -> None:
        if self._queued and self.state is SessionState.WAITING_OBJECT:
            ask, text = self._queued.popleft()
            self._launch(ask, text)

    async def wait_turn(self) -> None:
        """Wait until no turn runs or waits (tests and passivation)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    # -- stop and clear ----------------------------------------------------------------------
    def stop(self, user_id: int) -> bool:
        """Stop the running turn: cancel the model task. Returns False when no turn runs.

        Queued asks are dropped. A turn whose answer is already complete finishes normally.
        """
        self.check_viewer(user_id)
        return self.cancel()

    def cancel(self) -> bool:
        """`stop` without the viewer check (the host uses it when a chat is deleted)."""
        self._queued.clear()
        if self.state is not SessionState.RUNNING or self._task is None:
            return False
        if self._turn is not None and self._turn.stoppable and not self._stopping:
            self._stopping = True
            self._task.cancel()
        return True

    def mark_context_stale(self) -> None:
        """Stored messages changed outside this session's turns: rebuild the model context from
        storage before the next turn (not now: a running turn keeps the context it started with)."""
        self._context_stale = True

    async def clear_context(self, user_id: int) -> int | None:
        """Empty the model context for the next turn; stored history stays.

        Persists a divider row (`remark=clear_history`) so a later activation, on any host,
        starts from the same empty context. Returns its message id (None for previews).
        Forbidden for another user's chat, Conflict for a deleted one.
        """
        await self.admit(user_id, write=True)
        self._context = []
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
