"""`RAYCHAT_WS_DEFLATE` (issue 9): the replica's uvicorn negotiates per-message deflate only
when it is on, for Configs made before and after the switch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import uvicorn
import uvicorn.config
import websockets
from starlette.types import Receive, Scope, Send

from serve_app.errors import CLOSE_NORMAL
from serve_app.ingress import apply_ws_deflate


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"ok": True})})
    await send({"type": "websocket.close", "code": CLOSE_NORMAL})


@pytest.fixture
def restore() -> Iterator[None]:
    saved = uvicorn.config.Config.__dict__.get("ws_per_message_deflate")
    yield
    if saved is None:
        if "ws_per_message_deflate" in uvicorn.config.Config.__dict__:
            delattr(uvicorn.config.Config, "ws_per_message_deflate")
    else:
        uvicorn.config.Config.ws_per_message_deflate = saved


async def negotiated(enabled: bool) -> str | None:
    config = uvicorn.Config(echo_app, host="127.0.0.1", port=0, log_level="warning")
    apply_ws_deflate(enabled)  # after the Config was made, as Serve's replica does it
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
            assert json.loads(await ws.recv()) == {"ok": True}
            assert ws.response is not None
            return ws.response.headers.get("Sec-WebSocket-Extensions")
    finally:
        server.should_exit = True
        await task


@pytest.mark.usefixtures("restore")
async def test_deflate_off_negotiates_no_extension() -> None:
    assert await negotiated(False) is None


@pytest.mark.usefixtures("restore")
async def test_deflate_on_negotiates_permessage_deflate() -> None:
    extensions = await negotiated(True)
    assert extensions is not None and "permessage-deflate" in extensions
