"""Flow and demo-model bounds from the safety review (API.md §6a): no ReDoS in the demo
tokenizer, capped token counts, no format specs in templates, a linear cycle check."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from actors.config import MAX_GRAPH_NODES
from actors.errors import FlowInvalid
from actors.flows.chat_models import MAX_MODEL_TOKENS, params_problem, split_tokens
from actors.flows.compiler import compile_flow
from tests.conftest import demo_graph


def _with_params(**params: Any) -> dict[str, Any]:
    graph = copy.deepcopy(demo_graph())
    for node in graph["nodes"]:
        if node["type"] == "ChatModel":
            node["params"].update(params)
    return graph


def _with_template(template: str) -> dict[str, Any]:
    graph = copy.deepcopy(demo_graph())
    for node in graph["nodes"]:
        if node["type"] == "ChatPrompt":
            node["params"]["template"] = template
    return graph


def test_tokenizer_is_linear_on_whitespace_runs() -> None:
    # The old `\s*\S+` took ~6 s at 20k trailing spaces; 200k must take well under a second.
    started = time.process_time()
    assert split_tokens("a" + " " * 200_000) == ["a"]
    assert time.process_time() - started < 1.0


def test_tokenizer_keeps_leading_whitespace() -> None:
    assert split_tokens("  hello  big world") == ["  hello", "  big", " world"]


@pytest.mark.parametrize("name", ["answer_tokens", "max_tokens"])
def test_token_counts_are_capped(name: str) -> None:
    assert params_problem({name: MAX_MODEL_TOKENS}) is None
    problem = params_problem({name: 10**12})
    assert problem is not None and "at most" in problem
    with pytest.raises(FlowInvalid):
        compile_flow(_with_params(**{name: MAX_MODEL_TOKENS + 1}))


@pytest.mark.parametrize("template", ["{input:>999999999}", "{input!r}", "{input:^10}"])
def test_format_specs_in_templates_are_refused(template: str) -> None:
    with pytest.raises(FlowInvalid, match="format spec"):
        compile_flow(_with_template(template))


def test_plain_template_still_compiles() -> None:
    compile_flow(_with_template("Q: {input}"))


def test_cycle_check_is_linear_and_still_finds_cycles() -> None:
    # A ring as large as a graph may be (MAX_GRAPH_NODES): the old recursive check hit
    # RecursionError past ~1000 nodes.
    graph = copy.deepcopy(demo_graph())
    ring = MAX_GRAPH_NODES - len(graph["nodes"])
    extra = [{"id": f"n{i}", "type": "Output", "params": {}} for i in range(ring)]
    graph["nodes"].extend(extra)
    graph["edges"].extend({"source": f"n{i}", "target": f"n{i + 1}"} for i in range(ring - 1))
    graph["edges"].append({"source": f"n{ring - 1}", "target": "n0"})
    started = time.process_time()
    with pytest.raises(FlowInvalid, match="cycle"):
        compile_flow(graph)
    assert time.process_time() - started < 2.0
