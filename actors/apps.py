"""What a session runs: a loaded app (a compiled flow or an assistant) that starts turns.

`load_app` reads the app through the storage port and builds its LangChain objects once per
activation (and again when the app changes); turns then only stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool, StructuredTool

from actors.assistant import AssistantTurn
from actors.errors import AssistantDeleted, FlowDeleted
from actors.flows import CompiledFlow, compile_flow
from actors.models import build_chat_model
from actors.ports import StoragePort
from actors.tools import ToolInput, build_tools
from actors.turn import AppInfo, FlowTurn, TurnEmitter, TurnRecorder, chunk_text

AppKind = Literal["flow", "assistant"]
FLOW_TYPE_FLOW = 1
FLOW_TYPE_ASSISTANT = 5
ASSISTANT_INPUT_KEY = "input"


class Turn(Protocol):
    """One running turn: `parts` is the streamed answer so far; `stoppable` False once the
    answer is complete."""

    parts: list[str]
    stoppable: bool

    async def run(self, text: str, inputs: dict[str, Any], client_msg_id: str | None) -> str: ...

    async def finish_stopped(self) -> None: ...


class LoadedApp(Protocol):
    """An app ready to run turns."""

    @property
    def info(self) -> AppInfo: ...

    @property
    def revision(self) -> str: ...

    @property
    def input_key(self) -> str: ...

    def new_turn(
        self, emitter: TurnEmitter, recorder: TurnRecorder, context: list[BaseMessage]
    ) -> Turn: ...


@dataclass(frozen=True)
class FlowApp:
    """A compiled flow."""

    info: AppInfo
    revision: str
    compiled: CompiledFlow

    @property
    def input_key(self) -> str:
        return self.compiled.input_key

    def new_turn(
        self, emitter: TurnEmitter, recorder: TurnRecorder, context: list[BaseMessage]
    ) -> Turn:
        return FlowTurn(self.compiled, emitter, recorder, context)


@dataclass(frozen=True)
class AssistantApp:
    """An assistant: its model with tools bound, and its system prompt."""

    info: AppInfo
    revision: str
    prompt: str
    model: BaseChatModel
    tools: tuple[BaseTool, ...]
    input_key: str = ASSISTANT_INPUT_KEY

    def new_turn(
        self, emitter: TurnEmitter, recorder: TurnRecorder, context: list[BaseMessage]
    ) -> Turn:
        return AssistantTurn(self.model, list(self.tools), self.prompt, emitter, recorder, context)


async def app_revision(storage: StoragePort, kind: AppKind, app_id: str) -> str:
    """The app's current revision (cheap check before each turn); raises when it is gone."""
    if kind == "flow":
        flow = await storage.get_flow(app_id)
        if flow is None:
            raise FlowDeleted(flow_id=app_id)
        return f"v{flow.version}"
    assistant = await storage.get_assistant(app_id)
    if assistant is None:
        raise AssistantDeleted(assistant_id=app_id)
    return assistant.update_time.isoformat()


async def load_app(storage: StoragePort, kind: AppKind, app_id: str) -> LoadedApp:
    """Read and build an app. Raises FlowDeleted/AssistantDeleted, FlowInvalid, InvalidInput."""
    if kind == "flow":
        flow = await storage.get_flow(app_id)
        if flow is None:
            raise FlowDeleted(flow_id=app_id)
        info = AppInfo(flow.id, flow.name, FLOW_TYPE_FLOW, flow.description, flow.logo)
        return FlowApp(info, f"v{flow.version}", compile_flow(flow.data))
    assistant = await storage.get_assistant(app_id)
    if assistant is None:
        raise AssistantDeleted(assistant_id=app_id)
    flows = await _tool_flows(storage, assistant.tools)
    tools = build_tools(assistant.tools, flow_tool=lambda flow_id: flows[flow_id])
    model = build_chat_model(assistant.model, "model")
    info = AppInfo(
        assistant.id, assistant.name, FLOW_TYPE_ASSISTANT, assistant.description, assistant.logo
    )
    return AssistantApp(
        info, assistant.update_time.isoformat(), assistant.prompt, model, tuple(tools)
    )


async def _tool_flows(storage: StoragePort, specs: Sequence[Any]) -> dict[str, BaseTool]:
    tools: dict[str, BaseTool] = {}
    for spec in specs:
        if isinstance(spec, str) and spec.startswith("flow:"):
            flow_id = spec.partition(":")[2].strip()
            flow = await storage.get_flow(flow_id)
            if flow is None:
                raise FlowDeleted(f"Tool flow {flow_id} does not exist", flow_id=flow_id)
            tools[flow_id] = flow_tool(
                flow.id, flow.name, flow.description, compile_flow(flow.data)
            )
    return tools


def flow_tool(flow_id: str, name: str, description: str | None, compiled: CompiledFlow) -> BaseTool:
    """A flow used as a tool: its input is the flow's question, its output the flow's answer."""

    async def run_flow(input: str) -> str:
        result = await compiled.runnable.ainvoke(compiled.prompt_inputs(input, [], {}))
        return chunk_text(result)

    return StructuredTool.from_function(
        coroutine=run_flow,
        name=f"flow_{flow_id}",
        description=description or f"Runs the flow {name!r} on a question and returns its answer",
        args_schema=ToolInput,
    )
