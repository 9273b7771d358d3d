"""One client WebSocket: reads client frames, drives session actors, relays their frames.

Holds no conversation state: only which chat the socket currently addresses and one frame pump
per chat it watches. Everything durable lives in the session actors and storage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import MutableMapping
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketState

from actors.errors import RaychatError
from actors.events import Frame, make_frame
from actors.registry import Runtime
from actors.session import Ask, SessionKey
from serve_app.access import access_flow_for_chat
from serve_app.auth import Principal
from serve_app.errors import error_frame
from serve_app.protocol import ClientFrame, parse_client_frame
from storage.records import FlowRecord

log = logging.getLogger(__name__)
CLOSE_TOO_BIG = 1009


class ChatSocket:
    """Serves one accepted socket until the client leaves. Frames to the client are written by
    one coroutine at a time (send lock); pumps run one per watched chat."""

    def __init__(
        self,
        ws: WebSocket,
        runtime: Runtime,
        user: Principal,
        flow: FlowRecord,
        chat_id: str | None,
    ) -> None:
        self._ws = ws
        self._runtime = runtime
        self._user = user
        self._flow = flow
        self._chat_id = chat_id
        self._preview_id = f"preview-{uuid.uuid4().hex}"
        self._pumps: dict[SessionKey, asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()

    async def serve(self) -> None:
        """Receive until disconnect; oversize frames close the socket with 1009."""
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = _text_of(message)
                if len(text.encode()) > self._runtime.config.ws_max_frame_bytes:
                    await self._ws.close(CLOSE_TOO_BIG, "frame too large")
                    return
                await self._on_text(text)
        finally:
            for pump in self._pumps.values():
                pump.cancel()

    async def _on_text(self, text: str) -> None:
        try:
            await self._dispatch(parse_client_frame(text))
        except RaychatError as exc:
            await self._send([error_frame(exc, self._flow.id, self._chat_id)])

    async def _dispatch(self, frame: ClientFrame) -> None:
        await self._switch(frame)
        if frame.action == "stop":
            await self._send([self._frame("close", "processing")])
        elif frame.is_ask:
            await self._ask(frame)

    async def _switch(self, frame: ClientFrame) -> None:
        if frame.flow_id and frame.flow_id != self._flow.id:
            self._flow = await access_flow_for_chat(self._runtime, self._user, frame.flow_id)
        if frame.chat_id:
            self._chat_id = frame.chat_id

    def _key(self) -> SessionKey:
        if self._chat_id is None:
            return SessionKey(self._flow.id, self._preview_id, persist=False)
        return SessionKey(self._flow.id, self._chat_id)

    async def _ask(self, frame: ClientFrame) -> None:
        key = self._key()
        inputs = {k: v for k, v in (frame.inputs or {}).items() if k != "id"}
        ask = Ask(user_id=self._user.user_id, inputs=inputs, client_msg_id=frame.client_msg_id)
        first_seq = await self._runtime.start_turn(key, ask)
        self._watch(key, first_seq - 1)

    def _watch(self, key: SessionKey, after_seq: int) -> None:
        pump = self._pumps.get(key)
        if pump is None or pump.done():
            self._pumps[key] = asyncio.get_running_loop().create_task(self._pump(key, after_seq))

    async def _pump(self, key: SessionKey, after_seq: int) -> None:
        timeout_s = self._runtime.config.sessions.pull_timeout_s
        try:
            while True:
                batch = await self._runtime.pull(key, after_seq, timeout_s)
                if batch.frames:
                    await self._send(batch.frames)
                    after_seq = batch.frames[-1]["seq"]
                elif not batch.live:
                    return
        except RaychatError as exc:
            await self._send([error_frame(exc, key.flow_id, key.chat_id)])
        except Exception:  # the socket went away mid-send: nothing to tell anyone
            log.debug("frame pump for %s ended", key.text, exc_info=True)

    def _frame(self, type_: Any, category: str) -> Frame:
        return make_frame(
            type_,
            category,
            flow_id=self._flow.id,
            chat_id=self._chat_id,
            user_id=self._user.user_id,
        )

    async def _send(self, frames: list[Frame]) -> None:
        async with self._send_lock:
            if self._ws.application_state is not WebSocketState.CONNECTED:
                return
            for frame in frames:
                await self._ws.send_text(json.dumps(frame, ensure_ascii=False))


def _text_of(message: MutableMapping[str, Any]) -> str:
    if message.get("text") is not None:
        return str(message["text"])
    return bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")
