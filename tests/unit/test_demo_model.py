"""The demo model behaves exactly as FLOWS.md says."""

from __future__ import annotations

import operator
from functools import reduce

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableBinding

from actors.flows.chat_models import DemoChatModel, DemoModelError, split_tokens


async def test_echo_counts_history_not_system_or_current() -> None:
    model = DemoChatModel(tokens_per_second=0)
    messages = [SystemMessage("sys"), HumanMessage("a"), AIMessage("b"), HumanMessage("now")]
    assert (await model.ainvoke(messages)).content == "echo(2): now"


async def test_stream_tokens_are_words_with_leading_space() -> None:
    model = DemoChatModel(tokens_per_second=0)
    stream = model.astream([HumanMessage("one two  three")])
    tokens = [c.content async for c in stream if c.content]  # LangChain adds an empty last chunk
    assert tokens == ["echo(0):", " one", " two", "  three"]
    assert split_tokens("a b") == ["a", " b"]


async def test_answer_tokens_pads_with_filler() -> None:
    model = DemoChatModel(tokens_per_second=0, answer_tokens=6)
    text = (await model.ainvoke([HumanMessage("hi")])).content
    assert text == "echo(0): hi w1 w2 w3 w4"
    assert len(split_tokens(str(text))) == 6


async def test_script_plays_answers_in_turn_and_marks_demo() -> None:
    model = DemoChatModel(
        model="script", script=["first", {"answer": "second"}], tokens_per_second=0
    )
    first = await model.ainvoke([HumanMessage("x")])
    second = await model.ainvoke([HumanMessage("y")])
    assert (first.content, second.content) == ("first", "second")
    assert first.response_metadata["demo"] is True


async def test_script_error_entry_raises() -> None:
    model = DemoChatModel(model="script", script=[{"error": "boom"}], tokens_per_second=0)
    with pytest.raises(DemoModelError):
        await model.ainvoke([HumanMessage("x")])


TOOL_SCRIPT = [{"tool": "calculator", "input": "2+2"}, "It is 4."]


async def test_script_tool_entry_returns_a_tool_call_then_the_next_entry() -> None:
    model = DemoChatModel(model="script", script=TOOL_SCRIPT, tokens_per_second=0)
    first = await model.ainvoke([HumanMessage("what is 2+2?")])
    assert first.content == ""
    assert first.tool_calls == [
        {"name": "calculator", "args": {"input": "2+2"}, "id": "demo_call_0", "type": "tool_call"}
    ]
    after_tool = [
        HumanMessage("what is 2+2?"),
        first,
        ToolMessage("4", tool_call_id="demo_call_0"),
    ]
    second = await model.ainvoke(after_tool)
    assert (second.content, second.tool_calls) == ("It is 4.", [])


async def test_streamed_tool_call_chunks_add_up_to_the_tool_call() -> None:
    model = DemoChatModel(model="script", script=TOOL_SCRIPT, tokens_per_second=0)
    chunks = [c async for c in model.astream([HumanMessage("x")])]
    assert all(isinstance(c, AIMessageChunk) and c.content == "" for c in chunks)
    assert sum(1 for c in chunks if c.tool_call_chunks) == 2  # name first, then arguments
    total = reduce(operator.add, chunks)
    assert total.tool_calls == [
        {"name": "calculator", "args": {"input": "2+2"}, "id": "demo_call_0", "type": "tool_call"}
    ]
    sync_total = reduce(operator.add, model.stream([HumanMessage("y")]))
    assert sync_total.content == "It is 4." and not sync_total.tool_calls


async def test_tool_call_ids_follow_the_script_position() -> None:
    script = [{"tool": "current_time"}, {"tool": "calculator", "input": "1"}]
    model = DemoChatModel(model="script", script=script, tokens_per_second=0)
    calls = [(await model.ainvoke([HumanMessage("q")])).tool_calls[0] for _ in range(3)]
    assert [(c["name"], c["args"], c["id"]) for c in calls] == [
        ("current_time", {"input": ""}, "demo_call_0"),
        ("calculator", {"input": "1"}, "demo_call_1"),
        ("current_time", {"input": ""}, "demo_call_2"),
    ]


async def test_bind_tools_works_and_keeps_the_script() -> None:
    model = DemoChatModel(model="script", script=TOOL_SCRIPT, tokens_per_second=0)
    bound = model.bind_tools([calculator_schema], tool_choice="auto")
    assert isinstance(bound, RunnableBinding)
    assert bound.kwargs["tools"][0]["function"]["name"] == "calculator_schema"
    assert bound.kwargs["tool_choice"] == "auto"
    message = await bound.ainvoke([HumanMessage("x")])
    assert message.tool_calls[0]["name"] == "calculator"


def calculator_schema(input: str) -> str:
    """A stand-in tool: only its schema matters to bind_tools."""
    return input


async def test_echo_is_unchanged_by_bound_tools() -> None:
    bound = DemoChatModel(tokens_per_second=0).bind_tools([calculator_schema])
    assert (await bound.ainvoke([HumanMessage("hi")])).content == "echo(0): hi"
