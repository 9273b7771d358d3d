"""The `openai` and `ollama` providers against local fake servers (no network, no weights).

Each test starts its own server on 127.0.0.1, configures an operator provider pointing at it
(as `RAYCHAT_PROVIDERS` would; flows never carry a URL), and checks both directions: what the
compiled flow streams, and what the real client library sent over HTTP.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Iterator
from functools import reduce
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from ollama import ResponseError

from actors.config import ProviderConfig
from actors.errors import FlowInvalid
from actors.flows.chat_models import Providers, build_chat_model
from actors.flows.compiler import compile_flow
from actors.flows.tools import build_tools
from tests.conftest import demo_graph
from tests.integration.fake_providers import FakeOllama, FakeOpenAI, Reply

TOKENS = ("Hel", "lo", ", ", "wor", "ld", "!")
HISTORY = [HumanMessage("earlier question"), AIMessage("earlier answer")]
EXPECTED_MESSAGES = [
    {"role": "system", "content": "You are a terse helper."},
    {"role": "user", "content": "earlier question"},
    {"role": "assistant", "content": "earlier answer"},
    {"role": "user", "content": "and now?"},
]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a proxy from the environment away from 127.0.0.1."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().running() as server:
        assert isinstance(server, FakeOpenAI)
        yield server


@pytest.fixture
def ollama_server() -> Iterator[FakeOllama]:
    with FakeOllama().running() as server:
        assert isinstance(server, FakeOllama)
        yield server


def graph_with(**model_params: Any) -> dict[str, Any]:
    """The FLOWS.md example graph (system prompt + Memory) on the given model params."""
    graph = copy.deepcopy(demo_graph())
    graph["nodes"][3]["params"] = model_params
    return graph


async def stream_flow(
    graph: dict[str, Any], providers: Providers, on_first: Any = None
) -> list[str]:
    """Run one turn through `compile_flow(...).runnable.astream`; the non-empty tokens, in order."""
    compiled = compile_flow(graph, providers)
    tokens: list[str] = []
    async for chunk in compiled.runnable.astream(compiled.prompt_inputs("and now?", HISTORY, {})):
        if chunk.content:
            tokens.append(str(chunk.content))
            if len(tokens) == 1 and on_first is not None:
                on_first()
    return tokens


def openai_provider(server: FakeOpenAI, api_key_env: str | None = None) -> Providers:
    """The operator's provider `fake-openai` on the fake server."""
    base = f"http://127.0.0.1:{server.port}/v1"
    spec = ProviderConfig(
        kind="openai", base_url=base, api_key_env=api_key_env, models=("fake-gpt",)
    )
    return {"fake-openai": spec}


def openai_params(**extra: Any) -> dict[str, Any]:
    return {"provider": "fake-openai", "model": "fake-gpt", **extra}


async def test_openai_streams_tokens_in_order_and_sends_the_request(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYCHAT_TEST_KEY", "sk-test-123")
    openai_server.replies = [Reply(tokens=TOKENS, hold_after_first=True)]
    params = openai_params(temperature=0.25, max_tokens=33)
    providers = openai_provider(openai_server, api_key_env="RAYCHAT_TEST_KEY")
    tokens = await stream_flow(graph_with(**params), providers, on_first=openai_server.release)
    assert tokens == list(TOKENS)
    # The server held its second token until the client had the first: a real stream.
    assert openai_server.released_in_time is True
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test-123"
    body = request.body
    assert (body["model"], body["stream"], body["messages"]) == (
        "fake-gpt",
        True,
        EXPECTED_MESSAGES,
    )
    assert body["temperature"] == 0.25 and body["max_completion_tokens"] == 33


async def test_openai_leaves_out_unset_sampling_params(openai_server: FakeOpenAI) -> None:
    providers = openai_provider(openai_server)
    assert await stream_flow(graph_with(**openai_params()), providers) == ["ok"]
    body = openai_server.requests[0].body
    assert not {"temperature", "max_tokens", "max_completion_tokens"} & body.keys()


@pytest.mark.parametrize("max_retries", [0, 1])
async def test_openai_server_error_raises_after_max_retries(
    openai_server: FakeOpenAI, max_retries: int
) -> None:
    openai_server.replies = [Reply(status=500)] * (max_retries + 1) + [Reply(tokens=("late",))]
    graph = graph_with(**openai_params(max_retries=max_retries))
    with pytest.raises(openai.InternalServerError, match="upstream exploded"):
        await stream_flow(graph, openai_provider(openai_server))
    assert len(openai_server.requests) == max_retries + 1


async def test_openai_streamed_tool_call_and_tool_result_round_trip(
    openai_server: FakeOpenAI,
) -> None:
    tools = {t.name: t for t in build_tools(["calculator", "current_time"])}
    openai_server.replies = [
        Reply(tool_name="calculator", tool_args={"input": "2+2"}),
        Reply(tokens=("It is", " 4.")),
    ]
    chat_model = build_chat_model(openai_params(), "model", openai_provider(openai_server))
    model = chat_model.bind_tools(list(tools.values()))
    question = HumanMessage("what is 2+2?")
    chunks = [c async for c in model.astream([question])]
    request = reduce(operator.add, chunks)
    assert isinstance(request, AIMessageChunk)
    assert request.tool_calls == [
        {"name": "calculator", "args": {"input": "2+2"}, "id": "call_fake1", "type": "tool_call"}
    ]
    sent_tools = openai_server.requests[0].body["tools"]
    assert [t["function"]["name"] for t in sent_tools] == ["calculator", "current_time"]
    assert sent_tools[0]["function"]["parameters"]["required"] == ["input"]

    result = await tools["calculator"].ainvoke(request.tool_calls[0])
    answer = "".join([str(c.content) async for c in model.astream([question, request, result])])
    assert answer == "It is 4."
    sent = openai_server.requests[1].body["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "calculator",
        "arguments": json.dumps({"input": "2+2"}),
    }
    assert sent[2] == {"role": "tool", "content": "4", "tool_call_id": "call_fake1"}


def ollama_provider(server: FakeOllama) -> Providers:
    """The operator's provider `fake-ollama` on the fake server (any model name allowed)."""
    base = f"http://127.0.0.1:{server.port}"
    spec = ProviderConfig(kind="ollama", base_url=base, models=("*",), default_model="fake-llama")
    return {"fake-ollama": spec}


def ollama_params(**extra: Any) -> dict[str, Any]:
    return {"provider": "fake-ollama", "model": "fake-llama", **extra}


async def test_ollama_streams_tokens_in_order_and_sends_the_request(
    ollama_server: FakeOllama,
) -> None:
    ollama_server.replies = [Reply(tokens=TOKENS, hold_after_first=True)]
    params = ollama_params(temperature=0.25, max_tokens=33)
    providers = ollama_provider(ollama_server)
    tokens = await stream_flow(graph_with(**params), providers, on_first=ollama_server.release)
    assert tokens == list(TOKENS)
    assert ollama_server.released_in_time is True
    [request] = ollama_server.requests
    assert request.path == "/api/chat"
    body = request.body
    assert (body["model"], body["stream"]) == ("fake-llama", True)
    sent = [{"role": m["role"], "content": m["content"]} for m in body["messages"]]
    assert sent == EXPECTED_MESSAGES
    assert body["options"]["temperature"] == 0.25 and body["options"]["num_predict"] == 33


async def test_ollama_server_error_raises(ollama_server: FakeOllama) -> None:
    ollama_server.replies = [Reply(status=500)]
    with pytest.raises(ResponseError, match="upstream exploded"):
        await stream_flow(graph_with(**ollama_params()), ollama_provider(ollama_server))
    assert len(ollama_server.requests) == 1


async def test_ollama_tool_call(ollama_server: FakeOllama) -> None:
    ollama_server.replies = [Reply(tool_name="calculator", tool_args={"input": "6*7"})]
    tools = build_tools(["calculator"])
    chat_model = build_chat_model(ollama_params(), "model", ollama_provider(ollama_server))
    model = chat_model.bind_tools(tools)
    request = reduce(operator.add, [c async for c in model.astream("six times seven?")])
    assert [(c["name"], c["args"]) for c in request.tool_calls] == [
        ("calculator", {"input": "6*7"})
    ]
    assert ollama_server.requests[0].body["tools"][0]["function"]["name"] == "calculator"


async def test_the_key_goes_only_to_the_operators_url(
    openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The attack of review §1: a flow may neither point the model elsewhere nor pick the variable
    # whose value is sent as the key. The operator's key reaches the operator's server only.
    monkeypatch.setenv("RAYCHAT_TEST_KEY", "sk-operator")
    monkeypatch.setenv("RAYCHAT_JWT_SECRET", "jwt-secret-" + "j" * 32)
    providers = openai_provider(openai_server, api_key_env="RAYCHAT_TEST_KEY")
    for stolen in ({"api_key_env": "RAYCHAT_JWT_SECRET"}, {"base_url": "http://127.0.0.1:1/v1"}):
        with pytest.raises(FlowInvalid, match="is set by the operator"):
            compile_flow(graph_with(**openai_params(**stolen)), providers)
    assert await stream_flow(graph_with(**openai_params()), providers) == ["ok"]
    [request] = openai_server.requests
    assert request.headers["Authorization"] == "Bearer sk-operator"
