"""One flow turn: stream the runnable, emit frames, persist question and answer.

A `FlowTurn` lives for one ask. The session cancels its task to stop it; `finish_stopped` then
commits the partial answer (`remark="break_answer"`) and emits `end/answer`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import BaseMessage

from actors.flows.compiler import CompiledFlow
from actors.frames import stream_message
from actors.sessions.model_context import BREAK_ANSWER
from actors.sessions.turns.recording import TurnEmitter, TurnRecorder, chunk_text

# How long a stopped turn waits for its question row before giving up (storage calls have
# their own deadline; this bounds the wait even if one were missing).
QUESTION_SAVE_DEADLINE_S = 30.0


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
        async for chunk in self._compiled.astream(values):
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
