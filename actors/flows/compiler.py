"""Flow compiler: a flow graph (FLOWS.md) becomes a LangChain runnable, validated node by node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from operator import itemgetter
from string import Formatter
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from actors.config import DEMO_PROVIDER, MAX_GRAPH_EDGES, MAX_GRAPH_NODES
from actors.errors import FlowInvalid
from actors.flows.chat_models import NO_PROVIDERS, Providers, build_chat_model
from actors.flows.retrieval import (
    DEFAULT_K,
    BM25Retriever,
    documents_problem,
    join_documents,
    k_problem,
)

NODE_TYPES = ("Input", "Variable", "ChatPrompt", "Memory", "Retriever", "ChatModel", "Output")
HISTORY_KEY = "history"
NODE_ID_SHOWN = 128  # characters of a node id quoted back in an error
CONTEXT_KEY = "context"


@dataclass(frozen=True)
class CompiledFlow:
    """What a session needs to run turns of a flow. Read-only once built."""

    input_key: str
    # The flow's two stages: `prepare` ([retrieval] | prompt) makes the model's input in one
    # call, then `model` streams. `runnable` is the two as one LangChain sequence.
    prepare: Runnable[dict[str, Any], Any]
    model: Runnable[Any, Any]
    memory_turns: int | None
    variables: dict[str, str] = field(default_factory=dict)
    # False when a component keeps per-use state (the demo model's script position): such a
    # flow is compiled per session instead of being shared by the sessions of a host.
    shareable: bool = True

    @property
    def runnable(self) -> Runnable[dict[str, Any], Any]:
        """`prepare | model`: the whole flow as one runnable (invoke, batch, tests)."""
        return self.prepare | self.model

    async def astream(self, values: dict[str, Any]) -> AsyncIterator[Any]:
        """Stream a turn's answer chunks: the same chunks as `runnable.astream(values)`, with
        `prepare` awaited once and the model's own `astream` iterated directly. A sequence's
        `astream` runs every chunk through a new asyncio task per step (LangChain's
        `_atransform_stream_with_config`): 15 µs of a host's CPU per token (docs/benchmarks.md)."""
        model_input = await self.prepare.ainvoke(values)
        async for chunk in self.model.astream(model_input):
            yield chunk

    def prompt_inputs(
        self, text: str, history: list[Any], overrides: dict[str, str]
    ) -> dict[str, Any]:
        """The runnable's input for one turn."""
        chosen = {k: v for k, v in overrides.items() if k in self.variables}
        values: dict[str, Any] = {**self.variables, **chosen, self.input_key: text}
        if self.memory_turns is not None:
            values[HISTORY_KEY] = history[-2 * self.memory_turns :] if self.memory_turns else []
        return values


@dataclass(frozen=True)
class GraphLimits:
    """How many nodes and edges a graph may have (0 = no bound)."""

    max_nodes: int = MAX_GRAPH_NODES
    max_edges: int = MAX_GRAPH_EDGES


DEFAULT_GRAPH_LIMITS = GraphLimits()


@dataclass
class _Graph:
    nodes: dict[str, dict[str, Any]]
    edges: list[tuple[str, str]]

    def of_type(self, node_type: str) -> list[dict[str, Any]]:
        return [n for n in self.nodes.values() if n["type"] == node_type]

    def sources_of(self, node_id: str) -> list[dict[str, Any]]:
        return [self.nodes[s] for s, t in self.edges if t == node_id]


def _fail(node_id: str | None, reason: str) -> FlowInvalid:
    node_id = node_id[:NODE_ID_SHOWN] if node_id else node_id  # a user's id may be huge
    where = f"node {node_id}: " if node_id else ""
    return FlowInvalid(f"{where}{reason}", node_id=node_id)


def _parse(graph: Any, limits: GraphLimits) -> _Graph:
    """The graph's structure, checked without recursion and within the size bounds; anything
    malformed (a non-object node or edge, a non-string id) is FlowInvalid, never a crash."""
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise _fail(None, "graph must be an object with a 'nodes' list")
    raw_edges = graph.get("edges") or []
    if not isinstance(raw_edges, list):
        raise _fail(None, "'edges' must be a list")
    if limits.max_nodes and len(graph["nodes"]) > limits.max_nodes:
        raise _fail(None, f"a graph has at most {limits.max_nodes} nodes")
    if limits.max_edges and len(raw_edges) > limits.max_edges:
        raise _fail(None, f"a graph has at most {limits.max_edges} edges")
    nodes: dict[str, dict[str, Any]] = {}
    for node in graph["nodes"]:
        parsed = _parse_node(node)
        if parsed["id"] in nodes:
            raise _fail(parsed["id"], "duplicate node id")
        nodes[parsed["id"]] = parsed
    return _Graph(nodes, [_parse_edge(edge, nodes) for edge in raw_edges])


def _parse_node(node: Any) -> dict[str, Any]:
    if not isinstance(node, dict) or not isinstance(node.get("id"), str):
        raise _fail(None, "every node needs a string 'id'")
    if node.get("type") not in NODE_TYPES:
        raise _fail(node["id"], f"unknown node type {str(node.get('type'))[:64]!r}")
    if not isinstance(node.get("params") or {}, dict):
        raise _fail(node["id"], "'params' must be an object")
    return {"id": node["id"], "type": node["type"], "params": node.get("params") or {}}


def _parse_edge(edge: Any, nodes: dict[str, dict[str, Any]]) -> tuple[str, str]:
    if not isinstance(edge, dict):
        raise _fail(None, "every edge must be an object with 'source' and 'target'")
    source, target = edge.get("source"), edge.get("target")
    for end in (source, target):
        if not isinstance(end, str) or end not in nodes:
            raise _fail(
                end if isinstance(end, str) else None, "edge points at a node that does not exist"
            )
    return str(source), str(target)


def _check_acyclic(graph: _Graph) -> None:
    """Kahn's algorithm over an adjacency map: O(nodes + edges), no recursion."""
    successors: dict[str, list[str]] = {node_id: [] for node_id in graph.nodes}
    indegree = dict.fromkeys(graph.nodes, 0)
    for source, target in graph.edges:
        successors[source].append(target)
        indegree[target] += 1
    ready = [node_id for node_id, degree in indegree.items() if degree == 0]
    seen = 0
    while ready:
        node_id = ready.pop()
        seen += 1
        for target in successors[node_id]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    if seen < len(indegree):
        raise _fail(next(n for n, d in indegree.items() if d > 0), "the graph has a cycle")


def _optional_single(graph: _Graph, node_type: str) -> dict[str, Any] | None:
    found = graph.of_type(node_type)
    if len(found) > 1:
        raise _fail(found[1]["id"], f"only one {node_type} node is supported")
    return found[0] if found else None


def _single(graph: _Graph, node_type: str) -> dict[str, Any]:
    node = _optional_single(graph, node_type)
    if node is None:
        raise _fail(None, f"the graph needs a {node_type} node")
    return node


def _build_retriever(node: dict[str, Any]) -> BM25Retriever:
    """The BM25 retriever of a `Retriever` node; FlowInvalid names the node on bad params."""
    params = node["params"]
    if params.get("knowledge_id") is not None:
        # No knowledge store exists yet; refusing now beats a flow that silently retrieves nothing.
        raise _fail(node["id"], "knowledge bases are not available yet; give 'documents' instead")
    if "documents" not in params:
        raise _fail(node["id"], "a Retriever needs 'documents' (a list of texts) or 'knowledge_id'")
    problem = documents_problem(params["documents"]) or k_problem(params.get("k", DEFAULT_K))
    if problem:
        raise _fail(node["id"], problem)
    return BM25Retriever(texts=tuple(params["documents"]), k=params.get("k", DEFAULT_K))


def _with_retrieval(
    retriever: BM25Retriever | None, input_key: str, prompt: ChatPromptTemplate
) -> Runnable[dict[str, Any], Any]:
    """`prompt`, after (with a retriever) a step that fills `{context}` from the input text."""
    if retriever is None:
        return prompt
    search = RunnableLambda(itemgetter(input_key)) | retriever | RunnableLambda(join_documents)
    return RunnablePassthrough.assign(**{CONTEXT_KEY: search}) | prompt


def _template_variables(template: str) -> set[str]:
    """The `{name}` fields of `template`; a format spec or conversion (`{input:>999999}`,
    `{input!r}`) is refused: padding specs blow a prompt up to any size (API.md §6a)."""
    names: set[str] = set()
    for _, name, spec, conversion in Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"template field {{{name}}} has a format spec or conversion")
        if name:
            names.add(name)
    return names


def _build_prompt(
    prompt_node: dict[str, Any] | None, with_memory: bool, input_key: str, provided: set[str]
) -> ChatPromptTemplate:
    params = prompt_node["params"] if prompt_node else {}
    system = str(params.get("system", ""))
    template = str(params.get("template", "{" + input_key + "}"))
    node_id = prompt_node["id"] if prompt_node else None
    try:
        missing = (_template_variables(system) | _template_variables(template)) - provided
    except ValueError as exc:
        raise _fail(node_id, str(exc)) from None
    if missing:
        raise _fail(node_id, f"prompt variable(s) {sorted(missing)} are not provided by any node")
    messages: list[Any] = [("system", system)] if system else []
    if with_memory:
        messages.append(MessagesPlaceholder(HISTORY_KEY))
    messages.append(("human", template))
    return ChatPromptTemplate.from_messages(messages)


def _variables(graph: _Graph) -> dict[str, str]:
    variables: dict[str, str] = {}
    for node in graph.of_type("Variable"):
        name = node["params"].get("name")
        if not isinstance(name, str) or not name:
            raise _fail(node["id"], "a Variable node needs a 'name'")
        variables[name] = str(node["params"].get("default", ""))
    return variables


def _memory_turns(node: dict[str, Any]) -> int:
    turns = node["params"].get("turns", 10)
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 0:
        raise _fail(node["id"], "'turns' must be a non-negative integer")
    return turns


def _check_context_free(graph: _Graph, input_key: str, variables: dict[str, str]) -> None:
    """With a Retriever, `context` is its output; an Input or Variable of that name would clash."""
    if input_key == CONTEXT_KEY:
        raise _fail(_single(graph, "Input")["id"], f"'{CONTEXT_KEY}' is filled by the Retriever")
    if CONTEXT_KEY in variables:
        clash = next(n for n in graph.of_type("Variable") if n["params"]["name"] == CONTEXT_KEY)
        raise _fail(clash["id"], f"'{CONTEXT_KEY}' is filled by the Retriever")


ModelFactory = Callable[[dict[str, Any], str], BaseChatModel]


def compile_flow(
    graph: Any,
    providers: Providers = NO_PROVIDERS,
    model_factory: ModelFactory | None = None,
    limits: GraphLimits = DEFAULT_GRAPH_LIMITS,
) -> CompiledFlow:
    """Validate `graph` (within `limits`), build its runnable ([retrieval] | prompt | model) on
    the operator's `providers` (only `demo` without them); FlowInvalid names the bad node.
    CPU-bound (a Retriever indexes its documents): callers on an event loop run it in a thread."""
    parsed = _parse(graph, limits)
    _check_acyclic(parsed)
    input_node = _single(parsed, "Input")
    model_node = _single(parsed, "ChatModel")
    prompt_node = _optional_single(parsed, "ChatPrompt")
    memory_node = _optional_single(parsed, "Memory")
    retriever_node = _optional_single(parsed, "Retriever")
    input_key = str(input_node["params"].get("key", "input"))
    variables = _variables(parsed)
    provided = {input_key, *variables}
    retriever = None
    if retriever_node is not None:
        _check_context_free(parsed, input_key, variables)
        retriever = _build_retriever(retriever_node)
        provided.add(CONTEXT_KEY)
    memory_turns = _memory_turns(memory_node) if memory_node else None
    prompt = _build_prompt(prompt_node, memory_node is not None, input_key, provided)
    if model_factory is None:
        model = build_chat_model(model_node["params"], model_node["id"], providers)
    else:
        model = model_factory(model_node["params"], model_node["id"])
    return CompiledFlow(
        input_key=input_key,
        prepare=_with_retrieval(retriever, input_key, prompt),
        model=model,
        memory_turns=memory_turns,
        variables=variables,
        shareable=not is_stateful_model(model_node["params"]),
    )


def is_stateful_model(params: dict[str, Any]) -> bool:
    """True for models that keep state between calls (the demo model in `script` mode)."""
    demo = params.get("provider", DEMO_PROVIDER) == DEMO_PROVIDER
    return demo and params.get("model") == "script"
