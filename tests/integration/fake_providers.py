"""Small local stand-ins for an OpenAI-compatible server and an Ollama server.

Each runs an aiohttp app on 127.0.0.1 (a port the OS picks) in a background thread with its own
event loop, records every request, and answers from a list of scripted replies: streamed text,
a streamed tool call, or an HTTP error.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RELEASE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `tokens` are streamed one per chunk; with `hold_after_first`, the
    server waits after the first token until the test calls `release()` (proof of streaming)."""

    tokens: tuple[str, ...] = ()
    tool_name: str | None = None
    tool_args: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    hold_after_first: bool = False


@dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeServer:
    """Base: thread + loop + aiohttp runner; subclasses add routes and the wire format."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[Reply] = []
        self.released_in_time: bool | None = None
        self._release = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def release(self) -> None:
        """Let a held reply go on."""
        self._release.set()

    async def _hold(self) -> None:
        waited = await self._loop.run_in_executor(None, self._release.wait, RELEASE_TIMEOUT_S)
        self.released_in_time = waited

    async def _record(self, request: web.Request) -> Reply:
        body = await request.json()
        self.requests.append(Recorded(request.path, dict(request.headers), body))
        return self.replies.pop(0) if self.replies else Reply(tokens=("ok",))

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    @contextmanager
    def running(self) -> Iterator[FakeServer]:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        assert self._ready.wait(RELEASE_TIMEOUT_S), "fake server did not start"
        try:
            yield self
        finally:
            self._release.set()
            assert self._runner is not None
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
            self._loop.close()

    async def _stream(
        self, request: web.Request, lines: AsyncIterator[bytes], content_type: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        async for line in lines:
            await response.write(line)
        await response.write_eof()
        return response


class FakeOpenAI(FakeServer):
    """`POST /v1/chat/completions` with `stream: true`: SSE `chat.completion.chunk` events, then
    `data: [DONE]`. Errors carry `retry-after-ms: 1` so the client's retries are immediate."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self.chat_completions)]

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        reply = await self._record(request)
        if reply.status != 200:
            error = {"error": {"message": "upstream exploded", "type": "server_error"}}
            return web.json_response(error, status=reply.status, headers={"retry-after-ms": "1"})
        return await self._stream(request, self._events(reply), "text/event-stream")

    async def _events(self, reply: Reply) -> AsyncIterator[bytes]:
        for delta, finish in self._deltas(reply):
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": "fake-model",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            if reply.hold_after_first and reply.tokens and delta.get("content") == reply.tokens[0]:
                await self._hold()
        yield b"data: [DONE]\n\n"

    @staticmethod
    def _deltas(reply: Reply) -> Iterator[tuple[dict[str, Any], str | None]]:
        yield {"role": "assistant", "content": ""}, None
        for token in reply.tokens:
            yield {"content": token}, None
        if reply.tool_name is None:
            yield {}, "stop"
            return
        arguments = json.dumps(reply.tool_args)
        head = {"index": 0, "id": "call_fake1", "type": "function"}
        yield (
            {"tool_calls": [{**head, "function": {"name": reply.tool_name, "arguments": ""}}]},
            None,
        )
        for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            yield {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, None
        yield {}, "tool_calls"


class FakeOllama(FakeServer):
    """`POST /api/chat` streaming NDJSON: one message object per line, the last with `done`."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/chat", self.chat)]

    async def chat(self, request: web.Request) -> web.StreamResponse:
        reply = await self._record(request)
        if reply.status != 200:
            return web.json_response({"error": "upstream exploded"}, status=reply.status)
        return await self._stream(request, self._lines(reply), "application/x-ndjson")

    async def _lines(self, reply: Reply) -> AsyncIterator[bytes]:
        for position, token in enumerate(reply.tokens):
            yield self._line({"role": "assistant", "content": token})
            if reply.hold_after_first and position == 0:
                await self._hold()
        if reply.tool_name is not None:
            call = {"function": {"name": reply.tool_name, "arguments": reply.tool_args}}
            yield self._line({"role": "assistant", "content": "", "tool_calls": [call]})
        yield self._line({"role": "assistant", "content": ""}, done=True)

    @staticmethod
    def _line(message: dict[str, Any], done: bool = False) -> bytes:
        line: dict[str, Any] = {
            "model": "fake-model",
            "created_at": "2025-01-31T09:30:00Z",
            "message": message,
            "done": done,
        }
        if done:
            line.update(done_reason="stop", total_duration=1, prompt_eval_count=1, eval_count=1)
        return (json.dumps(line) + "\n").encode()
