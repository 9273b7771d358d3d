"""One assistant turn (API.md §4.2): a tool-calling loop over the assistant's model.

Each model call streams as `start/processing`, `stream/processing`*, `end/processing`; each tool
call becomes `start/<category>` + `end/<category>` (category `tool`, `flow` or `knowledge`) with a
shared `run_id`; the final answer is `start/answer` + `end_cover/answer` with its `message_id`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.tools import BaseTool

from actors.errors import AssistantError
from actors.flows.tools import tool_category
from actors.frames import stream_message
from actors.sessions.model_context import BREAK_ANSWER
from actors.sessions.turns.recording import TurnEmitter, TurnRecorder, chunk_text

MAX_MODEL_CALLS = 8


class AssistantTurn:
    """Runs one assistant turn; the session cancels its task to stop it."""

    def __init__(
        self,
        model: BaseChatModel,
        tools: list[BaseTool],
        prompt: str,
        emitter: TurnEmitter,
        recorder: TurnRecorder,
        context: list[BaseMessage],
    ) -> None:
        self._model = model.bind_tools(tools) if tools else model
        self._tools = {t.name: t for t in tools}
        self._prompt, self._emit, self._recorder = prompt, emitter.emit, recorder
        self._context = context
        self._extra = json.dumps({"client_key": uuid.uuid4().hex})
        self.parts: list[str] = []
        self.stoppable = True
        self._question: asyncio.Future[int | None] | None = None

    async def run(self, text: str, inputs: dict[str, Any], client_msg_id: str | None) -> str:
        """Call the model, run the tools it asks for, repeat; commit and return the answer."""
        self._emit("begin", "processing", extra=self._extra)
        self._question = asyncio.ensure_future(
            self._recorder.save_question(text, inputs, client_msg_id)
        )
        messages: list[BaseMessage] = [*self._system(), *self._context, HumanMessage(text)]
        for _ in range(MAX_MODEL_CALLS):
            reply = await self._call_model(messages)
            if not reply.tool_calls:
                return await self._answer()
            messages.append(reply)
            for call in reply.tool_calls:
                messages.append(await self._run_tool(call))
        raise AssistantError(
            "The assistant did not answer within its tool-call budget",
            max_model_calls=MAX_MODEL_CALLS,
        )

    def _system(self) -> list[BaseMessage]:
        return [SystemMessage(self._prompt)] if self._prompt else []

    async def _call_model(self, messages: list[BaseMessage]) -> AIMessageChunk:
        self.parts = []  # the answer is the text of the last model call
        self._emit("start", "processing", extra=self._extra)
        reply: AIMessageChunk | None = None
        async for chunk in self._model.astream(messages):
            assert isinstance(chunk, AIMessageChunk)
            reply = chunk if reply is None else reply + chunk
            token = chunk_text(chunk)
            if token:
                self.parts.append(token)
                self._emit("stream", "processing", message=stream_message(token), extra=self._extra)
        self._emit("end", "processing", extra=self._extra)
        return reply if reply is not None else AIMessageChunk(content="")

    async def _run_tool(self, call: ToolCall) -> ToolMessage:
        tool = self._tools.get(call["name"])
        category = tool_category(tool) if tool is not None else "tool"
        run_id = uuid.uuid4().hex
        extra = json.dumps({"run_id": run_id})
        input_str = str(call.get("args", {}).get("input", json.dumps(call.get("args", {}))))
        self._emit(
            "start",
            category,
            extra=extra,
            message=json.dumps({"tool_key": call["name"], "input_str": input_str}),
        )
        if tool is None:
            result = ToolMessage(
                f"Error: no tool named {call['name']!r}",
                tool_call_id=call.get("id") or run_id,
                status="error",
            )
        else:
            result = await tool.ainvoke(call)
        output = chunk_text(result)
        self._emit(
            "end",
            category,
            extra=extra,
            message=json.dumps({"tool_key": call["name"], "output": output}),
        )
        await self._recorder.save(
            [
                self._recorder.row(
                    is_bot=True,
                    type_="end",
                    category=category,
                    extra=extra,
                    message=json.dumps(
                        {"tool_key": call["name"], "input_str": input_str, "output": output}
                    ),
                )
            ]
        )
        return result

    async def _answer(self) -> str:
        self.stoppable = False
        if self._question is not None:
            await self._question
        answer = "".join(self.parts)
        self._emit("start", "answer", extra=self._extra)
        [message_id] = await self._recorder.save(
            [
                self._recorder.row(
                    is_bot=True,
                    message=answer,
                    type_="end_cover",
                    category="answer",
                    extra=self._extra,
                )
            ]
        )
        self._emit("end_cover", "answer", message=answer, message_id=message_id, extra=self._extra)
        return answer

    async def finish_stopped(self) -> None:
        """After cancellation: commit the partial answer as `break_answer`, emit `end/answer`."""
        if self._question is not None:
            await self._question
        partial = "".join(self.parts)
        row = self._recorder.row(
            is_bot=True,
            message=partial,
            type_="end",
            category="answer",
            remark=BREAK_ANSWER,
            extra=self._extra,
        )
        [message_id] = await self._recorder.save([row])
        # `message` is "" as in Bisheng: clients append it to the text they streamed.
        self._emit("end", "answer", message="", message_id=message_id, extra=self._extra)
