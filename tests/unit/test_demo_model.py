"""The demo model behaves exactly as FLOWS.md says."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from actors.models import DemoChatModel, DemoModelError, split_tokens


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
