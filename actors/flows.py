"""Flow compiler: a flow graph (FLOWS.md) becomes a LangChain runnable, validated node by node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from string import Formatter
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable

from actors.errors import FlowInvalid
from actors.models import build_chat_model

NODE_TYPES = ("Input", "Variable", "ChatPrompt", "Memory", "ChatModel", "Output")
HISTORY_KEY = "history"


@dataclass(frozen=True)
class CompiledFlow:
    """What a session needs to run turns of a flow. Read-only once built."""

    input_key: str
    runnable: Runnable[dict[str, Any], Any]
    memory_turns: int | None
    variables: dict[str, str] = field(default_factory=dict)

    def prompt_inputs(
        self, text: str, history: list[Any], overrides: dict[str, str]
    ) -> dict[str, Any]:
        """The runnable's input for one turn."""
        chosen = {k: v for k, v in overrides.items() if k in self.variables}
        values: dict[str, Any] = {**self.variables, **chosen, self.input_key: text}
        if self.memory_turns is not None:
            values[HISTORY_KEY] = history[-2 * self.memory_turns :] if self.memory_turns else []
        return values


@dataclass
class _Graph:
    nodes: dict[str, dict[str, Any]]
    edges: list[tuple[str, str]]

    def of_type(self, node_type: str) -> list[dict[str, Any]]:
        return [n for n in self.nodes.values() if n["type"] == node_type]

    def sources_of(self, node_id: str) -> list[dict[str, Any]]:
        return [self.nodes[s] for s, t in self.edges if t == node_id]


def _fail(node_id: str | None, reason: str) -> FlowInvalid:
    where = f"node {node_id}: " if node_id else ""
    return FlowInvalid(f"{where}{reason}", node_id=node_id)


def _parse(graph: Any) -> _Graph:
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise _fail(None, "graph must be an object with a 'nodes' list")
    nodes: dict[str, dict[str, Any]] = {}
    for node in graph["nodes"]:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise _fail(None, "every node needs a string 'id'")
        if node.get("type") not in NODE_TYPES:
            raise _fail(node["id"], f"unknown node type {node.get('type')!r}")
        if node["id"] in nodes:
            raise _fail(node["id"], "duplicate node id")
        nodes[node["id"]] = {
            "id": node["id"],
            "type": node["type"],
            "params": node.get("params") or {},
        }
    edges = []
    for edge in graph.get("edges") or []:
        source, target = (edge or {}).get("source"), (edge or {}).get("target")
        for end in (source, target):
            if end not in nodes:
                raise _fail(str(end), "edge points at a node that does not exist")
        edges.append((str(source), str(target)))
    return _Graph(nodes, edges)


def _check_acyclic(graph: _Graph) -> None:
    state: dict[str, int] = {}

    def visit(node_id: str) -> None:
        state[node_id] = 1
        for source, target in graph.edges:
            if source != node_id:
                continue
            if state.get(target) == 1:
                raise _fail(target, "the graph has a cycle")
            if target not in state:
                visit(target)
        state[node_id] = 2

    for node_id in graph.nodes:
        if node_id not in state:
            visit(node_id)


def _single(graph: _Graph, node_type: str) -> dict[str, Any]:
    found = graph.of_type(node_type)
    if not found:
        raise _fail(None, f"the graph needs a {node_type} node")
    if len(found) > 1:
        raise _fail(found[1]["id"], f"only one {node_type} node is supported")
    return found[0]


def _template_variables(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


def _build_prompt(
    prompt_node: dict[str, Any] | None, with_memory: bool, input_key: str, provided: set[str]
) -> ChatPromptTemplate:
    params = prompt_node["params"] if prompt_node else {}
    system = str(params.get("system", ""))
    template = str(params.get("template", "{" + input_key + "}"))
    missing = (_template_variables(system) | _template_variables(template)) - provided
    if missing:
        node_id = prompt_node["id"] if prompt_node else None
        raise _fail(node_id, f"prompt variable(s) {sorted(missing)} are not provided by any node")
    messages: list[Any] = [("system", system)] if system else []
    if with_memory:
        messages.append(MessagesPlaceholder(HISTORY_KEY))
    messages.append(("human", template))
    return ChatPromptTemplate.from_messages(messages)


def compile_flow(
    graph: Any,
    model_factory: Callable[[dict[str, Any], str], BaseChatModel] = build_chat_model,
) -> CompiledFlow:
    """Validate `graph`, build its runnable (prompt | model); FlowInvalid names the bad node."""
    parsed = _parse(graph)
    _check_acyclic(parsed)
    input_node = _single(parsed, "Input")
    model_node = _single(parsed, "ChatModel")
    prompts = parsed.of_type("ChatPrompt")
    prompt_node = prompts[0] if prompts else None
    memory_nodes = parsed.of_type("Memory")
    input_key = str(input_node["params"].get("key", "input"))
    variables = {
        str(n["params"].get("name")): str(n["params"].get("default", ""))
        for n in parsed.of_type("Variable")
    }
    if None in variables or "None" in variables:
        raise _fail(parsed.of_type("Variable")[0]["id"], "a Variable node needs a 'name'")
    memory_turns = int(memory_nodes[0]["params"].get("turns", 10)) if memory_nodes else None
    prompt = _build_prompt(prompt_node, bool(memory_nodes), input_key, {input_key, *variables})
    model = model_factory(model_node["params"], model_node["id"])
    return CompiledFlow(
        input_key=input_key,
        runnable=prompt | model,
        memory_turns=memory_turns,
        variables=variables,
    )
