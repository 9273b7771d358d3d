"""Assistant tools (FLOWS.md "Assistants"): `calculator`, `current_time`, `knowledge:<documents>`,
and `build_tools`, which turns an assistant's tool specs into LangChain tools.

Every tool takes one argument, `{"input": <text>}`, and returns text. A failure the tool expects
(a refused expression, bad arguments) comes back as the tool result `"Error: <why>"`, so the model
can read it and go on; the turn does not crash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, ValidationError

from actors.errors import InvalidInput
from actors.flows.arithmetic import CalculationError, evaluate, format_number
from actors.flows.retrieval import DEFAULT_K, BM25Retriever, documents_problem, join_documents

ToolCategory = Literal["tool", "flow", "knowledge"]
CATEGORY_KEY = "raychat_category"  # in each built tool's `metadata`, so it rides on tool events
KNOWLEDGE_PREFIX = "knowledge_"
NO_MATCH = "No matching passages."
FlowToolFactory = Callable[[str], BaseTool]


class ToolInput(BaseModel):
    """The one argument every raychat tool takes."""

    input: str = Field(description="The text the tool works on.")


class IgnoredInput(BaseModel):
    """The same argument, optional, for tools that need no input."""

    input: str = Field(default="", description="Ignored.")


def tool_error_text(error: ToolException) -> str:
    """The tool result for an expected failure."""
    return f"Error: {error}"


def arguments_error_text(error: ValidationError | Exception) -> str:
    """The tool result when the model sent arguments that do not fit `{"input": <text>}`."""
    return 'Error: invalid arguments; expected {"input": "<text>"}'


def _tool(
    name: str,
    description: str,
    func: Callable[[str], str],
    category: ToolCategory,
    args_schema: type[BaseModel] = ToolInput,
) -> BaseTool:
    return StructuredTool.from_function(
        func=func,
        name=name,
        description=description,
        args_schema=args_schema,
        handle_tool_error=tool_error_text,
        handle_validation_error=arguments_error_text,
        metadata={CATEGORY_KEY: category},
    )


def calculate(input: str) -> str:
    """The calculator's body: the formatted value, or ToolException saying why not."""
    try:
        return format_number(evaluate(input))
    except CalculationError as exc:
        raise ToolException(str(exc)) from exc


def calculator_tool() -> BaseTool:
    """`calculator`: `{"input": "2 + 3 * 4"}` → `"14"`; plain arithmetic (actors/arithmetic)."""
    return _tool(
        "calculator",
        "Evaluate an arithmetic expression, e.g. '(2 + 3) * 4 / 5'. Supports numbers, "
        "+ - * / // % ** and parentheses. Returns the result as a number.",
        calculate,
        "tool",
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


def current_time_tool(clock: Callable[[], datetime] = _utc_now) -> BaseTool:
    """`current_time`: any input (ignored) → `"2025-01-31T09:30:00+00:00"` (ISO 8601, UTC)."""

    def current_time(input: str = "") -> str:
        return clock().astimezone(UTC).isoformat(timespec="seconds")

    return _tool(
        "current_time",
        "The current date and time in UTC, ISO 8601 with offset. The input is ignored.",
        current_time,
        "tool",
        IgnoredInput,
    )


def knowledge_name(documents: Sequence[str]) -> str:
    """`knowledge_<8 hex>`: stable for the same documents, so tool names stay the same per turn."""
    digest = hashlib.sha256(json.dumps(list(documents)).encode()).hexdigest()
    return f"{KNOWLEDGE_PREFIX}{digest[:8]}"


def knowledge_tool(documents: Sequence[str], k: int = DEFAULT_K) -> BaseTool:
    """A knowledge tool: `{"input": query}` → the best `k` passages by BM25 (the Retriever node's
    code), separated by blank lines, or `"No matching passages."`."""
    retriever = BM25Retriever(texts=tuple(documents), k=k)

    def search(input: str) -> str:
        return join_documents(retriever.invoke(input)) or NO_MATCH

    return _tool(
        knowledge_name(documents),
        "Search the knowledge base; the input is a search query. Returns the most relevant "
        "passages.",
        search,
        "knowledge",
    )


def tool_category(tool: BaseTool) -> ToolCategory:
    """`knowledge`, `flow` or `tool`, for the category of the `end/tool` frame (API.md §4.2)."""
    category = (tool.metadata or {}).get(CATEGORY_KEY)
    if category in ("tool", "flow", "knowledge"):
        return category  # type: ignore[no-any-return]
    return "knowledge" if tool.name.startswith(KNOWLEDGE_PREFIX) else "tool"


def build_tools(
    specs: Sequence[Any], *, flow_tool: FlowToolFactory | None = None
) -> list[BaseTool]:
    """The tools of an assistant's `tools` list, in order; InvalidInput (data `tool`) names the
    first spec that is unknown, malformed, repeated, or a `flow:` spec with no `flow_tool`."""
    tools: list[BaseTool] = []
    for spec in specs:
        tool = _build_one(spec, flow_tool)
        if any(t.name == tool.name for t in tools):
            raise _bad_spec(spec, f"tool {tool.name!r} is listed twice")
        tools.append(tool)
    return tools


def _build_one(spec: Any, flow_tool: FlowToolFactory | None) -> BaseTool:
    if not isinstance(spec, str):
        raise _bad_spec(spec, "a tool spec must be a string")
    kind, _, argument = spec.strip().partition(":")
    if kind == "calculator" and not argument:
        return calculator_tool()
    if kind == "current_time" and not argument:
        return current_time_tool()
    if kind == "knowledge" and argument:
        return _knowledge_from_spec(spec, argument)
    if kind == "flow" and argument.strip():
        return _flow_from_spec(spec, argument.strip(), flow_tool)
    raise _bad_spec(
        spec, "unknown tool; expected calculator, current_time, flow:<flow_id> or knowledge:<...>"
    )


def _knowledge_from_spec(spec: str, argument: str) -> BaseTool:
    try:
        documents = json.loads(argument)
    except ValueError:
        documents = argument  # not JSON: a knowledge base id
    if not isinstance(documents, list):
        # There is no knowledge store yet; an id cannot be resolved, so refuse it up front.
        raise _bad_spec(spec, "knowledge bases are not available yet; give a JSON list of texts")
    problem = documents_problem(documents)
    if problem:
        raise _bad_spec(spec, problem)
    return knowledge_tool(documents)


def _flow_from_spec(spec: str, flow_id: str, flow_tool: FlowToolFactory | None) -> BaseTool:
    if flow_tool is None:
        raise _bad_spec(spec, "flow tools need a flow_tool factory (none was given)")
    tool = flow_tool(flow_id)
    # Marked here so tool_category sees "flow" whatever name the factory chose.
    tool.metadata = {**(tool.metadata or {}), CATEGORY_KEY: "flow"}
    if not tool.handle_tool_error:
        tool.handle_tool_error = tool_error_text
    return tool


def _bad_spec(spec: Any, reason: str) -> InvalidInput:
    text = spec if isinstance(spec, str) else repr(spec)
    shown = text if len(text) <= 80 else f"{text[:77]}..."
    return InvalidInput(f"tool {shown!r}: {reason}", tool=shown)
