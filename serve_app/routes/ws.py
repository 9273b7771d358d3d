"""WebSocket endpoints (API.md §4). Authentication and app checks happen before the loop; a
refusal is an accept followed by close code 1008, so every client sees the code."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from actors.errors import RaychatError
from serve_app.access import access_flow_for_chat
from serve_app.auth import decode_token, token_from
from serve_app.chat_socket import ChatSocket

router = APIRouter(tags=["websocket"])
log = logging.getLogger(__name__)
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
# Token, app existence, app status and app ownership problems are policy violations.
POLICY_CODES = frozenset({401, 403, 404, 13001, 13002, 10420, 10421})


@router.websocket("/api/v1/chat/chat/{flow_id}")
async def flow_chat(
    ws: WebSocket, flow_id: str, chat_id: str | None = None, t: str | None = None
) -> None:
    """Chat with a flow. `chat_id` selects the initial chat; `t` carries the token."""
    runtime = ws.app.state.runtime
    await ws.accept()
    try:
        user = decode_token(runtime.config.jwt_secret, token_from(ws.headers, ws.cookies, t))
        flow = await access_flow_for_chat(runtime, user, flow_id)
    except RaychatError as exc:
        code = CLOSE_POLICY if exc.code in POLICY_CODES else CLOSE_INTERNAL
        await ws.close(code, exc.message[:120])
        return
    try:
        await ChatSocket(ws, runtime, user, flow, chat_id or None).serve()
    except Exception:
        log.exception("chat socket failed")
        await ws.close(CLOSE_INTERNAL, "internal error")
