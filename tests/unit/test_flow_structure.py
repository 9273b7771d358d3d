"""Malformed and oversized graphs (review §15, API.md §6a): FlowInvalid (422) naming the node
where there is one, never AttributeError/RecursionError (500)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from actors.config import MAX_GRAPH_EDGES, MAX_GRAPH_NODES
from actors.errors import FlowInvalid
from actors.flows.compiler import compile_flow
from tests.conftest import demo_graph


def _graph(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(demo_graph()), **changes}


@pytest.mark.parametrize(
    "edges",
    [
        ["in->model"],  # a string, not an object
        [1, 2],
        [None],
        [["in", "model"]],
        [{"source": 1, "target": "model"}],
        [{"source": {"x": 1}, "target": "model"}],
        [{"source": ["in"], "target": "model"}],
        "in->model",  # not a list
        {"source": "in", "target": "model"},
    ],
)
def test_malformed_edges_are_flow_invalid(edges: Any) -> None:
    with pytest.raises(FlowInvalid):
        compile_flow(_graph(edges=edges))


@pytest.mark.parametrize(
    "nodes",
    [
        [1],
        ["in"],
        [{"id": 5, "type": "Input"}],
        [{"id": "in", "type": ["Input"]}],
        [{"id": "in", "type": {"a": 1}}],
        [{"id": "in", "type": "Input", "params": [1]}],
    ],
)
def test_malformed_nodes_are_flow_invalid(nodes: Any) -> None:
    with pytest.raises(FlowInvalid):
        compile_flow(_graph(nodes=nodes))


def test_a_long_chain_compiles_without_recursion() -> None:
    # Input -> out0 -> out1 -> ... : Kahn's algorithm, no recursion (the old DFS hit ~1000).
    graph = copy.deepcopy(demo_graph())
    chain = [{"id": f"out{i}", "type": "Output"} for i in range(MAX_GRAPH_NODES - 10)]
    graph["nodes"] += chain
    graph["edges"] += [{"source": "out", "target": "out0"}] + [
        {"source": f"out{i}", "target": f"out{i + 1}"} for i in range(len(chain) - 1)
    ]
    compile_flow(graph)


def test_graph_size_is_bounded() -> None:
    graph = copy.deepcopy(demo_graph())
    graph["nodes"] += [{"id": f"o{i}", "type": "Output"} for i in range(MAX_GRAPH_NODES)]
    with pytest.raises(FlowInvalid, match="at most"):
        compile_flow(graph)
    graph = copy.deepcopy(demo_graph())
    graph["edges"] = graph["edges"] * (MAX_GRAPH_EDGES // len(graph["edges"]) + 1)
    with pytest.raises(FlowInvalid, match="at most"):
        compile_flow(graph)


def test_a_bad_edge_names_its_missing_node() -> None:
    with pytest.raises(FlowInvalid) as caught:
        compile_flow(_graph(edges=[{"source": "in", "target": "ghost"}]))
    assert caught.value.data["node_id"] == "ghost"
