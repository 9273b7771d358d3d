"""The flow compiler: valid graphs run, invalid ones name the failing node."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from actors.errors import FlowInvalid
from actors.flows import compile_flow
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
