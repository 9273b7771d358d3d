"""One flow turn: stream the runnable, emit frames, persist question and answer.

A `FlowTurn` lives for one ask. The session cancels its task to stop it; `finish_stopped` then
commits the partial answer (`remark="break_answer"`) and emits `end/answer`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

from actors.flows.compiler import CompiledFlow
from actors.frames import FrameType, make_frame, stream_message
from actors.sessions.frame_log import FrameLog
from actors.sessions.model_context import BREAK_ANSWER
from actors.sessions.storage_port import StoragePort
from storage.records import MessageRecord, SessionRecord

# How long a stopped turn waits for its question row before giving up (storage calls have
# their own deadline; this bounds the wait even if one were missing).
QUESTION_SAVE_DEADLINE_S = 30.0


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What a turn records about its app on the session row."""

    app_id: str
    name: str
    flow_type: int
    description: str | None = None
    logo: str | None = None


class TurnEmitter:
    """Appends frames for one chat and one asker to the chat's frame log."""

    def __init__(self, log: FrameLog, flow_id: str, chat_id: str, user_id: int | None) -> None:
        self._log, self._flow_id, self._chat_id, self._user_id = log, flow_id, chat_id, user_id

    def emit(self, type_: FrameType, category: str, **fields: Any) -> int:
        frame = make_frame(
            type_,
            category,
            flow_id=self._flow_id,
            chat_id=self._chat_id,
            user_id=self._user_id,
            **fields,
        )
        return self._log.append(frame)


class TurnRecorder:
    """Persists a turn's rows through the storage port (nothing for previews)."""

    def __init__(
        self, storage: StoragePort, app: AppInfo, chat_id: str, user_id: int, persist: bool
    ) -> None:
        self._storage, self._app, self._chat_id = storage, app, chat_id
        self._user_id, self._persist = user_id, persist

    def row(
        self,
        *,
        is_bot: bool,
        message: str,
        type_: str,
        category: str,
        extra: str | None = None,
        remark: str | None = None,
        client_msg_id: str | None = None,
    ) -> MessageRecord:
        return MessageRecord(
            row_key=uuid.uuid4().hex,
            chat_id=self._chat_id,
            flow_id=self._app.app_id,
            user_id=self._user_id,
            is_bot=is_bot,
            message=message,
            type=type_,
            category=category,
            extra=extra,
            remark=remark,
            client_msg_id=client_msg_id,
        )

    async def save_question(
        self, text: str, inputs: dict[str, Any], client_msg_id: str | None
    ) -> int | None:
        """Commit the question row (and the session row on the chat's first ask). Its `message`
        is the JSON text of the ask's inputs, as Bisheng stores it (API.md §4.5)."""
        if not self._persist:
            return None
        row = self.row(
            is_bot=False,
            message=question_message(inputs),
            type_="human",
            category="question",
            extra=json.dumps({"inputs": inputs}),
            client_msg_id=client_msg_id,
        )
        session = SessionRecord(
            chat_id=self._chat_id,
            flow_id=self._app.app_id,
            flow_type=self._app.flow_type,
            flow_name=self._app.name,
            user_id=self._user_id,
            flow_description=self._app.description,
            flow_logo=self._app.logo,
        )
        return (await self._storage.submit([row], [session]))[0]

    async def save(self, rows: list[MessageRecord]) -> list[int | None]:
        """Commit bot rows; ids in order (None for previews)."""
        if not self._persist or not rows:
            return [None] * len(rows)
        return list(await self._storage.submit(rows))


class FlowTurn:
    """Runs one flow turn (API.md §4.1). `stoppable` turns False once the answer is complete:
    from then on a stop lets the turn finish instead of storing a second, partial answer."""

    def __init__(
        self,
        compiled: CompiledFlow,
        emitter: TurnEmitter,
        recorder: TurnRecorder,
        context: list[BaseMessage],
    ) -> None:
        self._compiled, self._emit, self._recorder = compiled, emitter.emit, recorder
        self._context = context
        self.parts: list[str] = []
        self.stoppable = True
        self._question: asyncio.Future[int | None] | None = None

    async def run(self, text: str, inputs: dict[str, Any], client_msg_id: str | None) -> str:
        """Stream the answer and commit it; returns the answer text."""
        self._emit("begin", "system")
        self._question = asyncio.ensure_future(
            self._recorder.save_question(text, inputs, client_msg_id)
        )
        self._emit("start", "processing")
        overrides = {k: v for k, v in inputs.items() if isinstance(v, str)}
        values = self._compiled.prompt_inputs(text, self._context, overrides)
        async for chunk in self._compiled.runnable.astream(values):
            token = chunk_text(chunk)
            if token:
                self.parts.append(token)
                self._emit("stream", "processing", message=stream_message(token))
        self.stoppable = False
        await self._question
        answer = "".join(self.parts)
        self._emit("end", "processing")
        self._emit("start", "answer")
        [message_id] = await self._recorder.save(
            [self._recorder.row(is_bot=True, message=answer, type_="end", category="answer")]
        )
        self._emit("end", "answer", message=answer, message_id=message_id)
        return answer

    async def finish_stopped(self) -> None:
        """After cancellation: commit the partial answer as `break_answer`, emit `end/answer`."""
        if self._question is not None:
            # ids follow the order of events: question first; a stuck save raises TimeoutError
            async with asyncio.timeout(QUESTION_SAVE_DEADLINE_S):
                await asyncio.shield(self._question)
        partial = "".join(self.parts)
        row = self._recorder.row(
            is_bot=True, message=partial, type_="end", category="answer", remark=BREAK_ANSWER
        )
        [message_id] = await self._recorder.save([row])
        # `message` is "" as in Bisheng: clients append it to the text they streamed.
        self._emit("end", "answer", message="", message_id=message_id)


def question_message(inputs: dict[str, Any]) -> str:
    """A question row's `message`: the JSON text of the ask's inputs without `id`."""
    return json.dumps({k: v for k, v in inputs.items() if k != "id"}, ensure_ascii=False)


def chunk_text(chunk: Any) -> str:
    """The text of a streamed chunk (string content or content blocks)."""
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)
