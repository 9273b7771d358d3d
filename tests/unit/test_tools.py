"""Assistant tools: safe calculator, current time, BM25 knowledge, and the spec factory."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException

from actors.errors import InvalidInput
from actors.flows.chat_models import DemoChatModel
from actors.flows.tools import (
    build_tools,
    calculator_tool,
    current_time_tool,
    knowledge_tool,
    tool_category,
)

DOCS = [
    "The refund window is 30 days from delivery.",
    "Shipping to Norway takes five working days.",
    "Our office cat is called Miso.",
]


def call(tool: BaseTool, text: str) -> ToolMessage:
    """Run `tool` the way an agent does: from a model's tool call, getting a ToolMessage back."""
    result = tool.invoke(
        {"type": "tool_call", "name": tool.name, "args": {"input": text}, "id": "call_1"}
    )
    assert isinstance(result, ToolMessage) and result.tool_call_id == "call_1"
    return result


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2+2", "4"),
        ("-(2 + 3) ** 2 / 4", "-6.25"),
        ("7 // 2 + 7 % 2", "4"),
        ("6 / 3", "2"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("2 ** -1", "0.5"),
        ("3 ** 1000 % 1000", "1"),
        ("((1 + 2)) * -3", "-9"),
    ],
)
def test_calculator_does_arithmetic(expression: str, value: str) -> None:
    message = call(calculator_tool(), expression)
    assert (message.content, message.status) == (value, "success")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "function calls are not allowed"),
        ("__import__('os').system('true')", "not allowed"),
        ("2**99999999", "exponent larger than 1000"),
        ("9**9**9", "exponent larger than 1000"),
        ("(9**999)**999", "result too large"),
        ("99**999 * 99**999", "result too large"),
        ("1e308 * 10", "result too large"),
        ("x + 1", "the name 'x' is not allowed"),
        ("os", "the name 'os' is not allowed"),
        ("(1).real", "attribute access is not allowed"),
        ("().__class__.__bases__", "not allowed"),
        ("'a' * 3", "the constant 'a' is not allowed"),
        ("True + 1", "the constant True is not allowed"),
        ("1j * 1j", "the constant 1j is not allowed"),
        ("[1, 2]", "List is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("2 ^ 3", "write \\*\\* for a power"),
        ("1 << 10", "LShift is not allowed"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("1 +", "not an arithmetic expression"),
        ("1 + 1\x00", "not an arithmetic expression"),
        ("1+" * 150 + "1", "longer than 200 characters"),
    ],
)
def test_calculator_refuses_with_an_error_result(expression: str, reason: str) -> None:
    message = call(calculator_tool(), expression)
    assert message.status == "error"
    assert str(message.content).startswith("Error: ")
    assert re.search(reason, str(message.content)), message.content


def test_calculator_bad_arguments_are_an_error_result_too() -> None:
    result = calculator_tool().invoke(
        {"type": "tool_call", "name": "calculator", "args": {"expr": "1"}, "id": "c"}
    )
    assert result.content == 'Error: invalid arguments; expected {"input": "<text>"}'


def test_current_time_is_iso_utc_with_offset() -> None:
    fixed = datetime(2025, 1, 31, 11, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))
    assert call(current_time_tool(lambda: fixed), "ignored").content == "2025-01-31T09:30:15+00:00"
    real = current_time_tool().invoke({})
    parsed = datetime.fromisoformat(real)
    assert parsed.utcoffset() == timedelta(0) and real.endswith("+00:00")
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=1)


def test_knowledge_tool_returns_best_passages() -> None:
    tool = knowledge_tool(DOCS, k=2)
    assert tool.name.startswith("knowledge_") and tool_category(tool) == "knowledge"
    assert call(tool, "how long does shipping to Norway take?").content == DOCS[1]
    assert str(call(tool, "refund window days").content).startswith(DOCS[0] + "\n\n")
    assert call(tool, "quantum").content == "No matching passages."


def test_knowledge_tool_name_is_stable_per_document_list() -> None:
    assert knowledge_tool(DOCS).name == knowledge_tool(list(DOCS)).name
    assert knowledge_tool(DOCS).name != knowledge_tool(DOCS[:2]).name


def test_build_tools_maps_specs_in_order() -> None:
    tools = build_tools(["calculator", "current_time", "knowledge:" + json.dumps(DOCS)])
    assert [t.name for t in tools[:2]] == ["calculator", "current_time"]
    assert [tool_category(t) for t in tools] == ["tool", "tool", "knowledge"]
    assert call(tools[2], "office cat").content == DOCS[2]


def test_build_tools_uses_the_flow_tool_factory() -> None:
    asked: list[str] = []

    def flow_tool(flow_id: str) -> BaseTool:
        asked.append(flow_id)

        def run_flow(input: str) -> str:
            raise ToolException("flow is offline")

        return StructuredTool.from_function(run_flow, name=f"flow_{flow_id}", description="x")

    [tool] = build_tools(["flow:abc123"], flow_tool=flow_tool)
    assert asked == ["abc123"] and tool_category(tool) == "flow"
    assert call(tool, "hi").content == "Error: flow is offline"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("teleporter", "unknown tool"),
        ("calculator:extra", "unknown tool"),
        ("flow:", "unknown tool"),
        (42, "must be a string"),
        ("flow:abc", "need a flow_tool factory"),
        ("knowledge:kb-17", "knowledge bases are not available yet"),
        ('knowledge:"kb-17"', "knowledge bases are not available yet"),
        ("knowledge:[]", "non-empty list"),
        ('knowledge:["ok", ""]', r"'documents'\[1\]"),
    ],
)
def test_build_tools_refuses_bad_specs(spec: Any, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as info:
        build_tools(["calculator", spec])
    assert info.value.data["tool"] == str(spec)


def test_build_tools_refuses_duplicates() -> None:
    with pytest.raises(InvalidInput, match="listed twice"):
        build_tools(["calculator", "calculator"])


async def test_demo_model_tool_call_runs_the_tool_it_names() -> None:
    """The whole offline tool path: scripted tool call → tool → tool result → next entry."""
    script = [{"tool": "calculator", "input": "6 * 7"}, "The answer is 42."]
    tools = {t.name: t for t in build_tools(["calculator", "current_time"])}
    model = DemoChatModel(model="script", script=script, tokens_per_second=0)
    bound = model.bind_tools(list(tools.values()))
    request = await bound.ainvoke("what is six times seven?")
    [tool_call] = request.tool_calls
    result = await tools[tool_call["name"]].ainvoke({**tool_call, "type": "tool_call"})
    assert (result.content, result.tool_call_id) == ("42", "demo_call_0")
    final = await bound.ainvoke(["what is six times seven?", request, result])
    assert final.content == "The answer is 42."
