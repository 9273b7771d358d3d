"""The REST body limit (API.md §6a): a request body over `max_bytes` gets 413 and the envelope
before it is read whole.

A pure ASGI middleware: a `Content-Length` over the limit is refused at once, without reading a
byte; a body without one (chunked) is counted chunk by chunk as the app reads it, and refused as
soon as the count passes the limit. FastAPI's built-in `max_body_size` does the same counting
but answers a too-long `Content-Length` in plain text, not with the envelope. WebSocket frames
have their own limit (`RAYCHAT_WS_MAX_FRAME_BYTES`).
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE_MESSAGE = "Request body too large"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit; an HTTPException, so
    FastAPI's body reader lets it through and the app's handler answers with the envelope."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE_MESSAGE)
        self.max_bytes = max_bytes


class BodyLimit:
    """Refuse HTTP request bodies over `max_bytes` with 413 (0 = no limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_too_large(send, self.max_bytes)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:  # the app answered already; nothing sensible is left to send
                raise
            await _send_too_large(send, self.max_bytes)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None  # the server refuses a malformed header itself


async def _send_too_large(send: Send, max_bytes: int) -> None:
    body = json.dumps(
        {"status_code": 413, "status_message": TOO_LARGE_MESSAGE, "data": {"max_bytes": max_bytes}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
