"""A chat session: its state machine, cached runnable, model context and frame log.

One `SessionActor` per `(flow_id, chat_id)`. It is a plain object living inside a `SessionHost`
(or alone in a dedicated Ray actor); all its methods run on one event loop, so the state machine
needs no locks.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from actors.config import SessionConfig
from actors.errors import (
    ChatServiceError,
    FlowDeleted,
    FlowInvalid,
    Forbidden,
    InvalidInput,
    ModelExecutionError,
    RaychatError,
    TurnBusy,
)
from actors.events import Frame, error_message, make_frame, stream_message
from actors.flows import CompiledFlow, compile_flow
from actors.framelog import FrameLog
from actors.ports import StoragePort
from storage.records import FlowRecord, MessageRecord, MessageRow, SessionRecord

FLOW_TYPE_FLOW = 1


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
    """Identity of a session. `persist=False` marks a preview chat (nothing stored)."""

    flow_id: str
    chat_id: str
    persist: bool = True

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
    """State machine + one turn at a time. See module docstring for concurrency."""

    def __init__(self, key: SessionKey, storage: StoragePort, config: SessionConfig) -> None:
        self.key = key
        self.state = SessionState.INIT
        self.frames = FrameLog()
        self._storage = storage
        self._config = config
        self._flow: FlowRecord | None = None
        self._compiled: CompiledFlow | None = None
        self._context: list[BaseMessage] = []
        self._turn: asyncio.Task[None] | None = None
        self.owner_id: int | None = None
        self.last_used = asyncio.get_running_loop().time()

    def _check_move(self, target: SessionState) -> None:
        if target not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state} -> {target}")

    def _move(self, target: SessionState) -> None:
        self._check_move(target)
        self.state = target

    async def activate(self) -> None:
        """Load the flow, compile it and rebuild the model context from storage.

        Runs once per activation (init -> init_object -> waiting_object); on failure the state
        returns to `init` and the error propagates (FlowDeleted, FlowInvalid, storage errors).
        """
        self._move(SessionState.INIT_OBJECT)
        try:
            flow = await self._storage.get_flow(self.key.flow_id)
            if flow is None:
                raise FlowDeleted(flow_id=self.key.flow_id)
            compiled = compile_flow(flow.data)
            owner = await self._load_owner()
            rows = await self._load_context()
        except BaseException:
            self._move(SessionState.INIT)
            raise
        self._flow, self._compiled, self.owner_id = flow, compiled, owner
        self._context = [_context_message(r) for r in rows]
        self._move(SessionState.WAITING_OBJECT)

    async def _load_owner(self) -> int | None:
        if not self.key.persist:
            return None
        found = await self._storage.session_owner(self.key.chat_id)
        if found is not None and found[1] != self.key.flow_id:
            raise Forbidden("This chat belongs to another app")
        return None if found is None else found[0]

    async def _load_context(self) -> list[MessageRow]:
        if not self.key.persist or self._config.context_messages == 0:
            return []
        return await self._storage.recent_context(self.key.chat_id, self._config.context_messages)

    def start_turn(self, ask: Ask) -> int:
        """Admit a turn and start it in the background; returns the seq of its first frame.

        Must be called in `waiting_object`. A second ask while a turn runs raises TurnBusy (the
        `reject` policy). The turn itself never raises: failures end it with an error frame.
        """
        if self.owner_id is not None and ask.user_id != self.owner_id:
            raise Forbidden("This chat belongs to another user")
        if self.state is SessionState.RUNNING:
            raise TurnBusy(chat_id=self.key.chat_id)
        self._check_move(SessionState.RUNNING)
        assert self._compiled is not None
        text = ask.inputs.get(self._compiled.input_key)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(
                f"inputs.{self._compiled.input_key} must be a non-empty string",
                field=f"inputs.{self._compiled.input_key}",
            )
        self.owner_id = ask.user_id if self.key.persist else None
        self._move(SessionState.RUNNING)
        self.frames.begin_turn()
        first_seq = self.frames.last_seq + 1
        self._turn = asyncio.get_running_loop().create_task(self._run_turn(ask, text))
        return first_seq

    async def wait_turn(self) -> None:
        """Wait for the running turn, if any, to finish (tests and passivation)."""
        if self._turn is not None:
            await asyncio.shield(self._turn)

    @property
    def busy(self) -> bool:
        """True while a turn runs."""
        return self.state is SessionState.RUNNING

    def touch(self) -> None:
        """Record use (idle passivation looks at this)."""
        self.last_used = asyncio.get_running_loop().time()

    def _emit(self, type_: Any, category: str, user_id: int | None, **fields: Any) -> int:
        frame = make_frame(
            type_,
            category,
            flow_id=self.key.flow_id,
            chat_id=self.key.chat_id,
            user_id=user_id,
            **fields,
        )
        return self.frames.append(frame)

    async def _run_turn(self, ask: Ask, text: str) -> None:
        try:
            await self._turn_body(ask, text)
        except asyncio.CancelledError:
            raise
        except RaychatError as exc:
            self._emit_error(ask, exc)
        except Exception as exc:  # a model or chain failure: the client gets a code, not a trace
            self._emit_error(ask, ModelExecutionError(error=type(exc).__name__))
        finally:
            self._emit("close", "processing", ask.user_id)
            self._move(SessionState.WAITING_OBJECT)
            self.touch()

    def _emit_error(self, ask: Ask, exc: RaychatError) -> None:
        self._emit(
            "end", "error", ask.user_id, message=error_message(exc.code, exc.message, exc.data)
        )

    async def _turn_body(self, ask: Ask, text: str) -> None:
        assert self._compiled is not None and self._flow is not None
        compiled, flow = self._compiled, self._flow
        self._emit("begin", "system", ask.user_id)
        question_saved = asyncio.ensure_future(self._save_question(ask, text, flow))
        self._emit("start", "processing", ask.user_id)
        inputs = compiled.prompt_inputs(text, self._context, _string_overrides(ask.inputs))
        parts: list[str] = []
        try:
            async for chunk in compiled.runnable.astream(inputs):
                token = _chunk_text(chunk)
                if token:
                    parts.append(token)
                    self._emit("stream", "processing", ask.user_id, message=stream_message(token))
        finally:
            await question_saved
        answer = "".join(parts)
        self._emit("end", "processing", ask.user_id)
        self._emit("start", "answer", ask.user_id)
        message_id = await self._save_answer(ask, answer)
        self._emit("end", "answer", ask.user_id, message=answer, message_id=message_id)
        self._context += [HumanMessage(text), AIMessage(answer)]

    async def _save_question(self, ask: Ask, text: str, flow: FlowRecord) -> int | None:
        if not self.key.persist:
            return None
        row = self._row(
            ask,
            is_bot=False,
            message=text,
            type_="human",
            category="question",
            extra=json.dumps({"inputs": ask.inputs}),
        )
        session = SessionRecord(
            chat_id=self.key.chat_id,
            flow_id=flow.id,
            flow_type=FLOW_TYPE_FLOW,
            flow_name=flow.name,
            user_id=ask.user_id,
            flow_description=flow.description,
            flow_logo=flow.logo,
        )
        return (await self._storage.submit([row], [session]))[0]

    async def _save_answer(self, ask: Ask, answer: str) -> int | None:
        if not self.key.persist:
            return None
        row = self._row(ask, is_bot=True, message=answer, type_="end", category="answer")
        ids = await self._storage.submit([row])
        if not ids:
            raise ChatServiceError("answer was not stored")
        return ids[0]

    def _row(
        self,
        ask: Ask,
        *,
        is_bot: bool,
        message: str,
        type_: str,
        category: str,
        extra: str | None = None,
    ) -> MessageRecord:
        return MessageRecord(
            row_key=uuid.uuid4().hex,
            chat_id=self.key.chat_id,
            flow_id=self.key.flow_id,
            user_id=ask.user_id,
            is_bot=is_bot,
            message=message,
            type=type_,
            category=category,
            extra=extra,
            client_msg_id=None if is_bot else ask.client_msg_id,
        )


def _context_message(row: MessageRow) -> BaseMessage:
    return AIMessage(row.message) if row.category == "answer" else HumanMessage(row.message)


def _chunk_text(chunk: Any) -> str:
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def _string_overrides(inputs: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in inputs.items() if isinstance(v, str)}


__all__ = [
    "Ask",
    "FlowInvalid",
    "Frame",
    "IllegalTransition",
    "SessionActor",
    "SessionKey",
    "SessionState",
]
