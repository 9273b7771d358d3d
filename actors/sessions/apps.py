"""What a session runs: a loaded app (a compiled flow or an assistant) that starts turns.

`AppLoader` reads the app through the storage port and builds its LangChain objects once per
activation (and again when the app changes), in a worker thread so that a big compile never
stalls the host's event loop; turns then only stream. Models are built on the operator's
providers only (`SessionConfig.providers`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool, StructuredTool

from actors.errors import AssistantDeleted, FlowDeleted, FlowOffline, Forbidden
from actors.flows.chat_models import NO_PROVIDERS, Providers, build_chat_model
from actors.flows.compiler import CompiledFlow, compile_flow, is_stateful_model
from actors.flows.tools import ToolInput, build_tools
from actors.sessions.storage_port import StoragePort
from actors.sessions.turns.assistant_turn import AssistantTurn
from actors.sessions.turns.flow_turn import FlowTurn
from actors.sessions.turns.recording import AppInfo, TurnEmitter, TurnRecorder, chunk_text
from actors.sessions.turns.turn import Turn
from storage.records import (
    FLOW_ONLINE,
    FLOW_TYPE_ASSISTANT,
    FLOW_TYPE_FLOW,
    AssistantRecord,
    FlowRecord,
)

AppKind = Literal["flow", "assistant"]
ASSISTANT_INPUT_KEY = "input"
SHAREABLE_KEY = "raychat_shareable"


class LoadedApp(Protocol):
    """An app ready to run turns."""

    @property
    def info(self) -> AppInfo: ...

    @property
    def revision(self) -> str: ...

    @property
    def input_key(self) -> str: ...

    @property
    def shareable(self) -> bool: ...

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
    def shareable(self) -> bool:
        return self.compiled.shareable

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
    shareable: bool = True
    input_key: str = ASSISTANT_INPUT_KEY

    def new_turn(
        self, emitter: TurnEmitter, recorder: TurnRecorder, context: list[BaseMessage]
    ) -> Turn:
        return AssistantTurn(self.model, list(self.tools), self.prompt, emitter, recorder, context)


AppRecord = FlowRecord | AssistantRecord


async def _read(storage: StoragePort, kind: AppKind, app_id: str) -> AppRecord:
    record: AppRecord | None
    if kind == "flow":
        record = await storage.get_flow(app_id)
        if record is None:
            raise FlowDeleted(flow_id=app_id)
        return record
    record = await storage.get_assistant(app_id)
    if record is None:
        raise AssistantDeleted(assistant_id=app_id)
    return record


def _revision(record: AppRecord) -> str:
    if isinstance(record, FlowRecord):
        return f"v{record.version}"
    return record.update_time.isoformat()


def _tool_flow_ids(specs: Sequence[Any]) -> list[str]:
    return [
        spec.partition(":")[2].strip()
        for spec in specs
        if isinstance(spec, str) and spec.startswith("flow:")
    ]


def _usable_state(flow: FlowRecord | None) -> str:
    if flow is None:
        return "gone"
    return f"v{flow.version}:{flow.status}:{int(flow.is_public)}:{flow.user_id}"


async def _tool_flows_of(storage: StoragePort, specs: Sequence[Any]) -> list[FlowRecord | None]:
    return [await storage.get_flow(flow_id) for flow_id in _tool_flow_ids(specs)]


async def _current_revision(storage: StoragePort, record: AppRecord) -> str:
    """A flow's version; an assistant's update time plus the state of its tool flows, so that a
    tool flow turned private, offline or deleted rebuilds (and so re-authorizes) the assistant."""
    if isinstance(record, FlowRecord) or not _tool_flow_ids(record.tools):
        return _revision(record)
    states = [_usable_state(f) for f in await _tool_flows_of(storage, record.tools)]
    return "|".join([_revision(record), *states])


def _compile_flow_app(record: FlowRecord, revision: str, providers: Providers) -> LoadedApp:
    info = AppInfo(record.id, record.name, FLOW_TYPE_FLOW, record.description, record.logo)
    return FlowApp(info, revision, compile_flow(record.data, providers))


def _build_assistant_app(
    record: AssistantRecord, revision: str, flows: dict[str, BaseTool], providers: Providers
) -> LoadedApp:
    tools = build_tools(record.tools, flow_tool=lambda flow_id: flows[flow_id])
    model = build_chat_model(record.model, "model", providers)
    info = AppInfo(record.id, record.name, FLOW_TYPE_ASSISTANT, record.description, record.logo)
    shareable = not is_stateful_model(record.model) and all(
        (t.metadata or {}).get(SHAREABLE_KEY, True) for t in flows.values()
    )
    return AssistantApp(info, revision, record.prompt, model, tuple(tools), shareable)


async def _build(
    storage: StoragePort, record: AppRecord, revision: str, providers: Providers
) -> LoadedApp:
    """Build off the event loop: compiling a graph and indexing Retriever documents is CPU work."""
    if isinstance(record, FlowRecord):
        return await asyncio.to_thread(_compile_flow_app, record, revision, providers)
    flows = await _tool_flows(storage, record, providers)
    return await asyncio.to_thread(_build_assistant_app, record, revision, flows, providers)


class AppLoader:
    """Reads and builds apps for the sessions of one host, sharing a built app read-only
    between sessions when it keeps no per-use state (bounded LRU by app revision).

    Concurrent-safe on one event loop; a failed build is not cached."""

    def __init__(
        self, storage: StoragePort, providers: Providers = NO_PROVIDERS, max_apps: int = 256
    ) -> None:
        self._storage = storage
        self._providers = providers
        self._max_apps = max_apps
        self._built: OrderedDict[tuple[str, str], LoadedApp] = OrderedDict()
        # Revision reads by app: the one running, and the one the next checks share.
        self._reads: dict[str, asyncio.Task[tuple[AppRecord, str]]] = {}
        self._next_reads: dict[str, asyncio.Task[tuple[AppRecord, str]]] = {}

    async def revision(self, kind: AppKind, app_id: str) -> str:
        """The app's current revision (a check before each turn); raises when it is gone.

        Reads of one app that arrive while a read of it runs share the *next* read, which
        starts once that one ends: every caller still gets a read that began after it called
        (a turn sees any change committed before it began), but an app that many turns (or
        activations, `load`) start at once costs at most two reads in flight, not one per
        caller (issue 9)."""
        _record, revision = await self._shared_read(kind, app_id)
        return revision

    async def load(self, kind: AppKind, app_id: str) -> LoadedApp:
        """The built app at its current revision (read as `revision` reads it). Raises
        FlowDeleted/AssistantDeleted, FlowInvalid, InvalidInput."""
        record, revision = await self._shared_read(kind, app_id)
        key = (f"{kind}:{app_id}", revision)
        if key in self._built:
            self._built.move_to_end(key)
            return self._built[key]
        app = await _build(self._storage, record, revision, self._providers)
        if app.shareable:
            self._built[key] = app
            while len(self._built) > self._max_apps:
                self._built.popitem(last=False)
        return app

    async def _shared_read(self, kind: AppKind, app_id: str) -> tuple[AppRecord, str]:
        key = f"{kind}:{app_id}"
        queued = self._next_reads.get(key)
        if queued is None:
            queued = asyncio.get_running_loop().create_task(self._read_after(key, kind, app_id))
            self._next_reads[key] = queued
        return await asyncio.shield(queued)

    async def _read_after(self, key: str, kind: AppKind, app_id: str) -> tuple[AppRecord, str]:
        running = self._reads.get(key)
        if running is not None:
            await asyncio.wait([running])  # its outcome is its own callers'
        self._next_reads.pop(key, None)
        task = asyncio.current_task()
        assert task is not None
        self._reads[key] = task
        try:
            record = await _read(self._storage, kind, app_id)
            return record, await _current_revision(self._storage, record)
        finally:
            if self._reads.get(key) is task:
                del self._reads[key]


async def _tool_flows(
    storage: StoragePort, assistant: AssistantRecord, providers: Providers
) -> dict[str, BaseTool]:
    """The assistant's `flow:` tools, each authorized now (not only when the assistant was
    saved): the flow exists, is online, and is the assistant owner's own or public."""
    tools: dict[str, BaseTool] = {}
    for flow_id in _tool_flow_ids(assistant.tools):
        flow = await storage.get_flow(flow_id)
        check_tool_flow(flow_id, flow, assistant.user_id)
        assert flow is not None
        compiled = await asyncio.to_thread(compile_flow, flow.data, providers)
        tools[flow_id] = flow_tool(flow.id, flow.name, flow.description, compiled)
        tools[flow_id].metadata = {SHAREABLE_KEY: compiled.shareable}
    return tools


def check_tool_flow(flow_id: str, flow: FlowRecord | None, owner_id: int) -> None:
    """Raise unless the assistant owner `owner_id` may run `flow` as a tool: FlowDeleted (gone),
    Forbidden (another user's private flow), FlowOffline (not online)."""
    tool = f"flow:{flow_id}"
    if flow is None:
        raise FlowDeleted(f"Tool {tool}: the flow does not exist", flow_id=flow_id, tool=tool)
    if flow.user_id != owner_id and not flow.is_public:
        raise Forbidden(
            f"Tool {tool}: the flow is private to its owner", flow_id=flow_id, tool=tool
        )
    if flow.status != FLOW_ONLINE:
        raise FlowOffline(f"Tool {tool}: the flow is not online", flow_id=flow_id, tool=tool)


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
