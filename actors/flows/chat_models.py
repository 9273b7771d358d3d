"""Chat models: the `demo` provider (offline, deterministic) and the operator's `openai` /
`ollama` providers (`RAYCHAT_PROVIDERS`), which flows name but never point elsewhere."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolCall,
    ToolCallChunk,
)
from langchain_core.messages.tool import tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr, SecretStr

from actors.config import ANY_MODEL, DEMO_PROVIDER, ProviderConfig
from actors.errors import FlowInvalid

log = logging.getLogger(__name__)

# Words only: `\S+` matches in one linear scan. `\s*\S+` with `findall` re-scans every
# whitespace run from each of its positions (quadratic: a question of spaces froze a host).
_WORD = re.compile(r"\S+")
# The most tokens a model param may ask for (`answer_tokens`, `max_tokens`): API.md §6a.
MAX_MODEL_TOKENS = 100_000
# The most retries a flow may ask of a provider client (each retry is another upstream request).
MAX_RETRIES = 10
DEMO_MODELS = ("echo", "script")


def split_tokens(text: str) -> list[str]:
    """Demo tokens: each word with its leading whitespace, so `"".join(tokens) == text.rstrip()`."""
    tokens: list[str] = []
    end = 0
    for match in _WORD.finditer(text):
        tokens.append(text[end : match.end()])
        end = match.end()
    return tokens


class DemoModelError(RuntimeError):
    """Raised by a script entry `{"error": "..."}`."""


@dataclass(frozen=True)
class ScriptedToolCall:
    """A script entry `{"tool": name, "input": text}`: the demo model asks for that tool."""

    name: str
    input: str
    id: str

    def as_tool_call(self) -> ToolCall:
        """The LangChain tool call: `name`, `args={"input": text}`, `id` (`demo_call_<n>`)."""
        return tool_call(name=self.name, args={"input": self.input}, id=self.id)

    def as_chunks(self) -> list[AIMessageChunk]:
        """Streamed like a real model: name and id first, then the JSON arguments."""
        return [
            AIMessageChunk(content="", tool_call_chunks=[self._chunk(self.name, "", self.id)]),
            AIMessageChunk(
                content="", tool_call_chunks=[self._chunk(None, json.dumps({"input": self.input}))]
            ),
        ]

    @staticmethod
    def _chunk(name: str | None, args: str, call_id: str | None = None) -> ToolCallChunk:
        return tool_call_chunk(name=name, args=args, id=call_id, index=0)


Reply = str | ScriptedToolCall


def script_problem(script: Any) -> str | None:
    """Why `script` is not a valid demo script, or None. Entries: a text, `{"answer": text}`,
    `{"error": message}` or `{"tool": name, "input": text}`."""
    if not isinstance(script, list):
        return "'script' must be a list"
    for position, entry in enumerate(script):
        if isinstance(entry, str):
            continue
        if not isinstance(entry, dict) or not entry.keys() & {"answer", "error", "tool"}:
            return f"'script'[{position}] must be a text or have 'answer', 'error' or 'tool'"
        if "tool" in entry and not (isinstance(entry["tool"], str) and entry["tool"]):
            return f"'script'[{position}]: 'tool' must be a tool name"
    return None


class DemoChatModel(BaseChatModel):
    """A deterministic local model (FLOWS.md "demo"): `echo` or `script` mode, paced streaming.

    In `script` mode each model call consumes one entry, so a tool-call entry is followed (after the
    tool result comes back) by the next entry. Calls on one instance are meant to be sequential.
    """

    model: str = "echo"
    script: list[Any] = Field(default_factory=list)
    tokens_per_second: float = 50.0
    answer_tokens: int | None = None
    _script_pos: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "raychat-demo"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept tools like a real model. The script decides which tool is called, so the bound
        schemas are carried along (as OpenAI tool dicts) but do not change the answers."""
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _reply(self, messages: list[BaseMessage]) -> Reply:
        if self.model == "script":
            return self._next_script_reply()
        dialogue = [m for m in messages if isinstance(m, HumanMessage | AIMessage)]
        question = dialogue[-1].content if dialogue else ""
        text = f"echo({max(len(dialogue) - 1, 0)}): {question}"
        return self._pad(text)

    def _next_script_reply(self) -> Reply:
        if not self.script:
            return ""
        position = self._script_pos
        entry = self.script[position % len(self.script)]
        self._script_pos += 1
        if isinstance(entry, str):
            return entry
        if "error" in entry:
            # A scripted failure, so error handling is testable offline like everything else.
            raise DemoModelError(str(entry["error"]))
        if "tool" in entry:
            return ScriptedToolCall(
                str(entry["tool"]), str(entry.get("input", "")), f"demo_call_{position}"
            )
        return str(entry.get("answer", ""))

    def _pad(self, text: str) -> str:
        tokens = split_tokens(text)
        if self.answer_tokens is None or len(tokens) >= self.answer_tokens:
            return text
        filler = [f"w{i}" for i in range(1, self.answer_tokens - len(tokens) + 1)]
        return " ".join([text, *filler])

    def _chunks(self, messages: list[BaseMessage]) -> list[AIMessageChunk]:
        reply = self._reply(messages)
        if isinstance(reply, ScriptedToolCall):
            chunks = reply.as_chunks()
        else:
            chunks = [AIMessageChunk(content=token) for token in split_tokens(reply)]
        for chunk in chunks:
            chunk.response_metadata = {"demo": True}
        return chunks

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages)
        metadata = {"demo": True, "model": self.model}
        if isinstance(reply, ScriptedToolCall):
            message = AIMessage(
                content="", tool_calls=[reply.as_tool_call()], response_metadata=metadata
            )
        else:
            message = AIMessage(content=reply, response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        for message in self._chunks(messages):
            # Sleeping here is the pacing of a real model; cancelling the task stops the stream.
            await asyncio.sleep(delay)
            chunk = ChatGenerationChunk(message=message)
            if run_manager is not None:
                await run_manager.on_llm_new_token(str(message.content), chunk=chunk)
            yield chunk


Providers = Mapping[str, ProviderConfig]
NO_PROVIDERS: Providers = MappingProxyType({})


@dataclass(frozen=True)
class ModelChoice:
    """A `ChatModel`'s params checked against the operator's providers: which provider (None for
    `demo`), which model, and the flow's model-level params."""

    provider: ProviderConfig | None
    model: str
    params: dict[str, Any]


def build_chat_model(
    params: dict[str, Any], node_id: str, providers: Providers = NO_PROVIDERS
) -> BaseChatModel:
    """A LangChain chat model from `ChatModel` node params (FLOWS.md) on one of the operator's
    `providers` (or `demo`); FlowInvalid names the node."""
    choice = choose_model(params, node_id, providers)
    if choice.provider is None:
        return DemoChatModel(
            model=choice.model,
            script=list(params.get("script", [])),
            tokens_per_second=float(params.get("tokens_per_second", 50.0)),
            answer_tokens=params.get("answer_tokens"),
        )
    if choice.provider.kind == "openai":
        return _openai_model(choice)
    return _ollama_model(choice)


def check_chat_model(
    params: dict[str, Any], node_id: str, providers: Providers = NO_PROVIDERS
) -> BaseChatModel:
    """Validate `ChatModel` params where the model will not run (the ingress, at create/update
    time): the demo model is built as usual; an operator provider's model is only checked (no
    client is built and no key is read here) and a demo stand-in returned in its place."""
    choice = choose_model(params, node_id, providers)
    if choice.provider is None:
        return build_chat_model(params, node_id, providers)
    return DemoChatModel(model="echo")


def choose_model(params: dict[str, Any], node_id: str, providers: Providers) -> ModelChoice:
    """Check `params` (FlowInvalid naming the node): a configured provider, an allowed model,
    and only the model-level params of its kind. Where to connect and which key to send are
    the operator's (`RAYCHAT_PROVIDERS`), never a flow's."""
    name = params.get("provider", DEMO_PROVIDER)
    if not isinstance(name, str):
        raise _invalid(node_id, "'provider' must be a provider name")
    provider = providers.get(name) if name != DEMO_PROVIDER else None
    if name != DEMO_PROVIDER and provider is None:
        known = ", ".join([DEMO_PROVIDER, *sorted(providers)])
        raise _invalid(node_id, f"unknown model provider {name!r} (configured: {known})")
    problem = _keys_problem(params, provider) or params_problem(params)
    if problem:
        raise _invalid(node_id, problem)
    model = params.get("model")
    if provider is None:
        model = model or "echo"
        if model not in DEMO_MODELS:
            raise _invalid(node_id, f"the demo model is one of {list(DEMO_MODELS)}")
    else:
        model = model or provider.fallback_model
        if not provider.allows(model):
            allowed = ", ".join(m for m in provider.models if m != ANY_MODEL)
            raise _invalid(
                node_id, f"model {model!r} is not allowed on provider {name!r} (allowed: {allowed})"
            )
    return ModelChoice(provider, str(model), params)


def _invalid(node_id: str, reason: str) -> FlowInvalid:
    return FlowInvalid(f"node {node_id}: {reason}", node_id=node_id)


# Params that would pick a host, a key or a client option: the operator's, named in the refusal.
OPERATOR_PARAMS = frozenset(
    {
        "base_url",
        "api_key_env",
        "api_key",
        "api_base",
        "openai_api_base",
        "openai_api_key",
        "openai_proxy",
        "organization",
        "headers",
        "default_headers",
        "client_kwargs",
        "host",
        "proxy",
    }
)
_COMMON_PARAMS = frozenset({"provider", "model", "temperature", "max_tokens"})
# Model-level params a flow may set, by provider kind (anything else is refused).
MODEL_PARAMS: dict[str, frozenset[str]] = {
    DEMO_PROVIDER: _COMMON_PARAMS | {"tokens_per_second", "answer_tokens", "script"},
    "openai": _COMMON_PARAMS | {"max_retries"},
    "ollama": _COMMON_PARAMS,
}


def _keys_problem(params: dict[str, Any], provider: ProviderConfig | None) -> str | None:
    for key in params:
        if key in OPERATOR_PARAMS:
            return f"{key!r} is set by the operator (RAYCHAT_PROVIDERS), not by a flow"
    kind = DEMO_PROVIDER if provider is None else provider.kind
    allowed = MODEL_PARAMS[kind]
    unknown = sorted(str(key) for key in params if key not in allowed)
    if unknown:
        return f"unknown model param {unknown[0]!r} for kind {kind!r} (allowed: {sorted(allowed)})"
    return None


_NUMBER_PARAMS = ("temperature", "tokens_per_second")
# name -> (least, most); None: no upper bound.
_COUNT_PARAMS: dict[str, tuple[int, int | None]] = {
    "max_tokens": (1, MAX_MODEL_TOKENS),
    "max_retries": (0, MAX_RETRIES),
    "answer_tokens": (1, MAX_MODEL_TOKENS),
}
_TEXT_PARAMS = ("model",)


def params_problem(params: dict[str, Any]) -> str | None:
    """Why `params` cannot configure a model (wrong types or ranges), or None."""
    for name in _NUMBER_PARAMS:
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"{name!r} must be a number"
        if value is not None and value < 0:
            return f"{name!r} must not be negative"
    for name, (least, most) in _COUNT_PARAMS.items():
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{name!r} must be an integer"
        if value is not None and value < least:
            return f"{name!r} must be at least {least}"
        if value is not None and most is not None and value > most:
            return f"{name!r} must be at most {most}"
    for name in _TEXT_PARAMS:
        if params.get(name) is not None and not isinstance(params[name], str):
            return f"{name!r} must be a string"
    return script_problem(params.get("script", []))


def provider_key(provider: ProviderConfig) -> str:
    """The provider's key from this process's environment (the variable the operator named);
    a placeholder without one: OpenAI-compatible local servers (vLLM, llama.cpp) need none."""
    if provider.api_key_env is None:
        return "not-set"
    key = os.environ.get(provider.api_key_env)
    if key is None:
        log.warning("the key variable %s of a provider is not set here", provider.api_key_env)
        return "not-set"
    return key


def _openai_model(choice: ModelChoice) -> BaseChatModel:
    # Imported on use: openai + tiktoken are slow to import and most sessions never need them.
    from langchain_openai import ChatOpenAI

    assert choice.provider is not None
    params = choice.params
    return ChatOpenAI(
        model=choice.model,
        base_url=choice.provider.base_url,
        api_key=SecretStr(provider_key(choice.provider)),
        temperature=params.get("temperature"),
        max_completion_tokens=params.get("max_tokens"),
        max_retries=params.get("max_retries", 2),
        streaming=True,
    )


def _ollama_model(choice: ModelChoice) -> BaseChatModel:
    # Imported on use, like ChatOpenAI above.
    from langchain_ollama import ChatOllama

    assert choice.provider is not None
    return ChatOllama(
        model=choice.model,
        base_url=choice.provider.base_url,
        temperature=choice.params.get("temperature"),
        num_predict=choice.params.get("max_tokens"),
    )
