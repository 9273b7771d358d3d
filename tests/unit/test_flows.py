"""The flow compiler: valid graphs run, invalid ones name the failing node."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

from actors.errors import FlowInvalid
from actors.flows.chat_models import DemoChatModel
from actors.flows.compiler import compile_flow
from tests.conftest import demo_graph


def drop(node_id: str) -> Any:
    def change(g: dict[str, Any]) -> None:
        g["nodes"] = [n for n in g["nodes"] if n["id"] != node_id]
        g["edges"] = [e for e in g["edges"] if node_id not in (e["source"], e["target"])]

    return change


def mutate(change: Any) -> dict[str, Any]:
    graph = copy.deepcopy(demo_graph())
    change(graph)
    return graph


async def test_demo_graph_compiles_and_runs() -> None:
    compiled = compile_flow(demo_graph())
    assert compiled.input_key == "input" and compiled.memory_turns == 10
    result = await compiled.runnable.ainvoke(compiled.prompt_inputs("hi", [], {}))
    assert result.content == "echo(0): hi"


def test_variables_fill_the_prompt() -> None:
    def add_variable(g: dict[str, Any]) -> None:
        g["nodes"].append(
            {"id": "v", "type": "Variable", "params": {"name": "tone", "default": "dry"}}
        )
        g["nodes"][1]["params"]["template"] = "{input} ({tone})"

    compiled = compile_flow(mutate(add_variable))
    inputs = compiled.prompt_inputs("q", [], {"tone": "warm", "unrelated": "x"})
    assert inputs["tone"] == "warm" and "unrelated" not in inputs
    assert compiled.runnable.invoke(inputs).content == "echo(0): q (warm)"


@pytest.mark.parametrize(
    ("change", "node_id", "reason"),
    [
        (lambda g: g["nodes"].append({"id": "x", "type": "Teleporter"}), "x", "unknown node type"),
        (
            lambda g: g["edges"].append({"source": "model", "target": "ghost"}),
            "ghost",
            "does not exist",
        ),
        (lambda g: g["edges"].append({"source": "out", "target": "in"}), None, "cycle"),
        (drop("in"), None, "Input"),
        (drop("model"), None, "ChatModel"),
        (lambda g: g["nodes"][1]["params"].update(template="{input} {nobody}"), "prompt", "nobody"),
        (lambda g: g["nodes"][3]["params"].update(provider="mystery"), "model", "provider"),
    ],
)
def test_invalid_graphs_name_the_node(change: Any, node_id: str | None, reason: str) -> None:
    with pytest.raises(FlowInvalid, match=reason) as info:
        compile_flow(mutate(change))
    if node_id is not None:
        assert info.value.data["node_id"] == node_id


@pytest.mark.parametrize("graph", [None, [], {"nodes": "no"}, {"nodes": [{"type": "Input"}]}])
def test_malformed_graphs_are_rejected(graph: Any) -> None:
    with pytest.raises(FlowInvalid):
        compile_flow(graph)


DOCS = [
    "Paris is the capital of France.",
    "Berlin is the capital of Germany.",
    "Cats sleep for most of the day.",
]


def with_retriever(**params: Any) -> Any:
    """A change adding a Retriever node (params as given) and `{context}` to the prompt template."""

    def change(g: dict[str, Any]) -> None:
        g["nodes"].append({"id": "docs", "type": "Retriever", "params": params})
        g["edges"].append({"source": "docs", "target": "prompt"})
        g["nodes"][1]["params"]["template"] = "[{context}] {input}"

    return change


async def test_retriever_fills_context_with_the_best_documents() -> None:
    compiled = compile_flow(mutate(with_retriever(documents=DOCS, k=1)))
    inputs = compiled.prompt_inputs("capital of Germany?", [], {})
    result = await compiled.runnable.ainvoke(inputs)
    assert result.content == "echo(0): [Berlin is the capital of Germany.] capital of Germany?"


async def test_retriever_joins_top_k_best_first_and_streams() -> None:
    compiled = compile_flow(mutate(with_retriever(documents=DOCS, k=2)))
    chunks = [
        c.content
        async for c in compiled.runnable.astream(compiled.prompt_inputs("capital germany", [], {}))
    ]
    text = "".join(str(c) for c in chunks)
    assert text == f"echo(0): [{DOCS[1]}\n\n{DOCS[0]}] capital germany"
    assert len([c for c in chunks if c]) > 3  # token by token, not one final blob


async def test_retriever_with_no_match_gives_empty_context() -> None:
    compiled = compile_flow(mutate(with_retriever(documents=DOCS)))
    result = await compiled.runnable.ainvoke(
        compiled.prompt_inputs("quantum chromodynamics", [], {})
    )
    assert result.content == "echo(0): [] quantum chromodynamics"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"knowledge_id": "kb1"}, "knowledge bases are not available yet"),
        ({}, "needs 'documents'"),
        ({"documents": []}, "non-empty list"),
        ({"documents": "Paris"}, "non-empty list"),
        ({"documents": ["ok", "  "]}, r"'documents'\[1\]"),
        ({"documents": ["ok", 3]}, r"'documents'\[1\]"),
        ({"documents": DOCS, "k": 0}, "'k'"),
        ({"documents": DOCS, "k": "2"}, "'k'"),
        ({"documents": DOCS, "k": True}, "'k'"),
    ],
)
def test_invalid_retriever_params_name_the_node(params: dict[str, Any], reason: str) -> None:
    with pytest.raises(FlowInvalid, match=reason) as info:
        compile_flow(mutate(with_retriever(**params)))
    assert info.value.data["node_id"] == "docs"


def test_context_without_a_retriever_is_a_missing_variable() -> None:
    def use_context(g: dict[str, Any]) -> None:
        g["nodes"][1]["params"]["system"] = "Answer from: {context}"

    with pytest.raises(FlowInvalid, match="context") as info:
        compile_flow(mutate(use_context))
    assert info.value.data["node_id"] == "prompt"


@pytest.mark.parametrize(
    ("change", "node_id", "reason"),
    [
        (
            lambda g: g["nodes"].append(
                {"id": "v", "type": "Variable", "params": {"name": "context"}}
            ),
            "v",
            "filled by the Retriever",
        ),
        (lambda g: g["nodes"][0]["params"].update(key="context"), "in", "filled by the Retriever"),
        (
            lambda g: g["nodes"].append(
                {"id": "docs2", "type": "Retriever", "params": {"documents": DOCS}}
            ),
            "docs2",
            "only one Retriever",
        ),
    ],
)
def test_retriever_clashes_name_the_node(change: Any, node_id: str, reason: str) -> None:
    def both(g: dict[str, Any]) -> None:
        with_retriever(documents=DOCS)(g)
        change(g)

    with pytest.raises(FlowInvalid, match=reason) as info:
        compile_flow(mutate(both))
    assert info.value.data["node_id"] == node_id


class RecordingModel(DemoChatModel):
    """The echo model, keeping the messages of every call."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.seen.append(messages)
        return super()._generate(messages, *args, **kwargs)


async def test_retriever_context_reaches_the_system_message() -> None:
    model = RecordingModel(tokens_per_second=0)

    def system_context(g: dict[str, Any]) -> None:
        with_retriever(documents=DOCS, k=1)(g)
        g["nodes"][1]["params"].update(system="Use: {context}", template="{input}")

    compiled = compile_flow(mutate(system_context), model_factory=lambda params, node_id: model)
    history = [HumanMessage("earlier"), AIMessage("answer")]
    await compiled.runnable.ainvoke(compiled.prompt_inputs("do cats sleep?", history, {}))
    [messages] = model.seen
    assert [m.content for m in messages] == [
        f"Use: {DOCS[2]}",
        "earlier",
        "answer",
        "do cats sleep?",
    ]


@pytest.mark.parametrize(
    ("change", "node_id", "reason"),
    [
        (lambda g: g["nodes"][2].update(params=["turns", 3]), "memory", "'params'"),
        (lambda g: g["nodes"][2]["params"].update(turns=-1), "memory", "'turns'"),
        (lambda g: g["nodes"][2]["params"].update(turns="ten"), "memory", "'turns'"),
        (lambda g: g["nodes"].append({"id": "v", "type": "Variable"}), "v", "'name'"),
        (
            lambda g: g["nodes"].append({"id": "p2", "type": "ChatPrompt"}),
            "p2",
            "only one ChatPrompt",
        ),
        (lambda g: g["nodes"][3]["params"].update(temperature="hot"), "model", "'temperature'"),
        (lambda g: g["nodes"][3]["params"].update(max_tokens=0), "model", "'max_tokens'"),
        (
            lambda g: g["nodes"][3]["params"].update(base_url="http://x"),
            "model",
            "'base_url' is set by the operator",
        ),
        (
            lambda g: g["nodes"][3]["params"].update(max_retries=1),
            "model",
            "unknown model param 'max_retries' for kind 'demo'",
        ),
        (lambda g: g["nodes"][3]["params"].update(model="gpt-5"), "model", "demo model is one"),
        (
            lambda g: g["nodes"][3]["params"].update(model="script", script=[{"say": "x"}]),
            "model",
            r"'script'\[0\]",
        ),
    ],
)
def test_invalid_node_params_name_the_node(change: Any, node_id: str, reason: str) -> None:
    with pytest.raises(FlowInvalid, match=reason) as info:
        compile_flow(mutate(change))
    assert info.value.data["node_id"] == node_id


@pytest.mark.parametrize("retrieval", [False, True])
async def test_turn_stream_yields_what_the_whole_runnable_streams(retrieval: bool) -> None:
    """`CompiledFlow.astream` (prepare once, then the model's own stream: what a turn runs)
    gives the same chunks as the flow's runnable as one LangChain sequence."""
    graph = mutate(with_retriever(documents=DOCS, k=2)) if retrieval else demo_graph()
    compiled = compile_flow(graph)
    inputs = compiled.prompt_inputs("capital germany", [], {})
    whole = [c.content async for c in compiled.runnable.astream(inputs)]
    # The demo model in echo mode counts its calls: a second compile starts from 0 too.
    staged = [c.content async for c in compile_flow(graph).astream(inputs)]
    assert staged == whole
    assert len([c for c in staged if c]) >= 3  # token by token
