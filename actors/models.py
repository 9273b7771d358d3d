"""Chat model providers: `demo` (offline, deterministic), `openai`, `ollama`."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from actors.errors import FlowInvalid

_TOKEN = re.compile(r"\s*\S+")
PROVIDERS = ("demo", "openai", "ollama")


def split_tokens(text: str) -> list[str]:
    """Demo tokens: each word with its leading whitespace, so `"".join(tokens) == text.strip()`."""
    return _TOKEN.findall(text)


class DemoModelError(RuntimeError):
    """Raised by a script entry `{"error": "..."}`."""


class DemoChatModel(BaseChatModel):
    """A deterministic local model (FLOWS.md "demo"): `echo` or `script` mode, paced streaming."""

    model: str = "echo"
    script: list[Any] = Field(default_factory=list)
    tokens_per_second: float = 50.0
    answer_tokens: int | None = None
    _script_pos: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "raychat-demo"

    def _answer(self, messages: list[BaseMessage]) -> str:
        if self.model == "script":
            return self._next_script_answer()
        dialogue = [m for m in messages if isinstance(m, HumanMessage | AIMessage)]
        question = dialogue[-1].content if dialogue else ""
        text = f"echo({max(len(dialogue) - 1, 0)}): {question}"
        return self._pad(text)

    def _next_script_answer(self) -> str:
        if not self.script:
            return ""
        entry = self.script[self._script_pos % len(self.script)]
        self._script_pos += 1
        if isinstance(entry, dict) and "error" in entry:
            # A scripted failure, so error handling is testable offline like everything else.
            raise DemoModelError(str(entry["error"]))
        return entry if isinstance(entry, str) else str(entry.get("answer", ""))

    def _pad(self, text: str) -> str:
        tokens = split_tokens(text)
        if self.answer_tokens is None or len(tokens) >= self.answer_tokens:
            return text
        filler = [f"w{i}" for i in range(1, self.answer_tokens - len(tokens) + 1)]
        return " ".join([text, *filler])

    def _result(self, text: str) -> ChatResult:
        message = AIMessage(content=text, response_metadata={"demo": True, "model": self.model})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(self._answer(messages))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for token in split_tokens(self._answer(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        for token in split_tokens(self._answer(messages)):
            # Sleeping here is the pacing of a real model; cancelling the task stops the stream.
            await asyncio.sleep(delay)
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(content=token, response_metadata={"demo": True})
            )
            if run_manager is not None:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


def build_chat_model(params: dict[str, Any], node_id: str) -> BaseChatModel:
    """A LangChain chat model from `ChatModel` node params (FLOWS.md)."""
    provider = params.get("provider", "demo")
    if provider == "demo":
        return DemoChatModel(
            model=str(params.get("model", "echo")),
            script=list(params.get("script", [])),
            tokens_per_second=float(params.get("tokens_per_second", 50.0)),
            answer_tokens=params.get("answer_tokens"),
        )
    if provider == "openai":
        return _openai_model(params, node_id)
    if provider == "ollama":
        return _ollama_model(params, node_id)
    raise FlowInvalid(f"node {node_id}: unknown model provider {provider!r}", node_id=node_id)


def _openai_model(params: dict[str, Any], node_id: str) -> BaseChatModel:
    from langchain_openai import ChatOpenAI  # optional heavy import, only when a flow asks for it

    key_env = params.get("api_key_env", "OPENAI_API_KEY")
    return ChatOpenAI(
        model=str(params.get("model", "gpt-4o-mini")),
        base_url=params.get("base_url"),
        api_key=os.environ.get(str(key_env), "not-set"),  # type: ignore[arg-type]
        temperature=params.get("temperature"),
        max_tokens=params.get("max_tokens"),  # type: ignore[call-arg]
        streaming=True,
    )


def _ollama_model(params: dict[str, Any], node_id: str) -> BaseChatModel:
    try:
        from langchain_ollama import ChatOllama
    except ImportError as exc:
        raise FlowInvalid(
            f"node {node_id}: provider 'ollama' needs the langchain-ollama package",
            node_id=node_id,
        ) from exc
    return ChatOllama(  # type: ignore[no-any-return]
        model=str(params.get("model", "llama3")),
        base_url=params.get("base_url"),
        temperature=params.get("temperature"),
    )
