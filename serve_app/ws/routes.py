"""WebSocket endpoints (API.md §4). Authentication and app checks happen before the loop; a
refusal is an accept followed by close code 1008 (1011 for an internal failure,
`serve_app.errors.close_code`), so every client sees the code."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from actors.errors import Forbidden, RaychatError
from actors.sessions.apps import AppKind
from serve_app.auth.principals import authenticate
from serve_app.auth.tokens import token_with_source
from serve_app.errors import CLOSE_INTERNAL, close_code
from serve_app.observability import metrics
from serve_app.observability.business_events import record_connection_alive
from serve_app.settings import ApiConfig
from serve_app.ws.socket import ChatSocket, access_app
from storage.records import utcnow

router = APIRouter(tags=["websocket"])
log = logging.getLogger(__name__)


@router.websocket("/api/v1/chat/chat/{flow_id}")
@router.websocket("/api/v1/chat/{flow_id}")  # Bisheng's real path (API.md §4.5); `type` ignored
async def flow_chat(
    ws: WebSocket, flow_id: str, chat_id: str | None = None, t: str | None = None
) -> None:
    """Chat with a flow. `chat_id` selects the initial chat (empty: a preview); `t` carries
    the token."""
    await serve_socket(ws, "flow", flow_id, chat_id, t)


@router.websocket("/api/v1/assistant/chat/{assistant_id}")
async def assistant_chat(
    ws: WebSocket, assistant_id: str, chat_id: str | None = None, t: str | None = None
) -> None:
    """Chat with an assistant. `chat_id` selects the initial chat; `t` carries the token."""
    await serve_socket(ws, "assistant", assistant_id, chat_id, t)


def own_origin(ws: WebSocket) -> str | None:
    """The server's origin as this request names it: scheme (ws -> http, wss -> https) and the
    `Host` header (host and port), lower case; None without a Host header."""
    host = ws.headers.get("host", "").strip().lower()
    if not host:
        return None
    scheme = "https" if ws.url.scheme in ("wss", "https") else "http"
    return f"{scheme}://{host}"


def check_origin(ws: WebSocket, config: ApiConfig) -> None:
    """A socket authenticated by the cookie must come from the server's own origin or one of
    `RAYCHAT_ALLOWED_ORIGINS` (Forbidden otherwise, closed with 1008): the browser sends the
    cookie to a cross-site page's socket too. Header and `t` tokens need no check."""
    origin = ws.headers.get("origin", "").strip().lower().rstrip("/")
    allowed = {o.lower() for o in config.allowed_origins}
    if origin and (origin == own_origin(ws) or origin in allowed):
        return
    raise Forbidden("Origin not allowed for a cookie-authenticated socket")


async def serve_socket(
    ws: WebSocket, kind: AppKind, app_id: str, chat_id: str | None, t: str | None
) -> None:
    """Authenticate, authorize the app, then serve the socket until the client leaves."""
    runtime = ws.app.state.runtime
    await ws.accept()
    try:
        token, source = token_with_source(ws.headers, ws.cookies, t)
        if source == "cookie":
            check_origin(ws, ws.app.state.api_config)
        user = await authenticate(runtime, token)
        app = await access_app(runtime, user, kind, app_id, preview=not chat_id)
    except RaychatError as exc:
        await ws.close(close_code(exc), exc.message[:120])
        return
    started = utcnow()
    metrics.ws_connected(kind)
    try:
        await ChatSocket(ws, runtime, user, app, chat_id or None).serve()
    except Exception:
        log.exception("chat socket failed")
        await ws.close(CLOSE_INTERNAL, "internal error")
    finally:
        metrics.ws_disconnected(kind)
        await record_connection_alive(
            runtime,
            user_id=user.user_id,
            app_id=app.id,
            app_kind=kind,
            chat_id=chat_id or None,
            started=started,
            ended=utcnow(),
        )
