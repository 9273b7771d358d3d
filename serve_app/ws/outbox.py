"""What a socket sends: frames written one at a time, and the clock of its last activity."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from fastapi import WebSocket
from starlette.websockets import WebSocketState

from actors.frames import Frame, FrameType, RelayFrame, WireFrame, frame_text, make_frame

log = logging.getLogger(__name__)


class Outbox:
    """Writes frames to one client socket. One writer at a time (send lock); frames for a
    socket that is no longer connected are dropped. `last_activity` is the loop time of the
    last frame either way (the receive loop sets it for frames in)."""

    def __init__(self, ws: WebSocket, user_id: int) -> None:
        self._ws = ws
        self._user_id = user_id
        self._send_lock = asyncio.Lock()
        self.last_activity = asyncio.get_running_loop().time()

    def frame(
        self, type_: FrameType, category: str, flow_id: str, chat_id: str | None, message: str = ""
    ) -> Frame:
        """A frame the ingress makes itself, addressed to this socket's user."""
        return make_frame(
            type_,
            category,
            flow_id=flow_id,
            chat_id=chat_id,
            message=message,
            user_id=self._user_id,
        )

    async def send(self, frames: Sequence[RelayFrame]) -> None:
        async with self._send_lock:
            if self._ws.application_state is not WebSocketState.CONNECTED:
                return
            self.last_activity = asyncio.get_running_loop().time()
            try:
                for frame in frames:
                    # A channel's frames are already text (serialized once, in the host).
                    text = frame.text if isinstance(frame, WireFrame) else frame_text(frame)
                    await self._ws.send_text(text)
            except (RuntimeError, OSError):  # the client went away mid-send
                log.debug("send to a closed socket dropped", exc_info=True)
