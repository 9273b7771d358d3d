"""The FastAPI application: routers, error translation, the runtime on `app.state`."""

from __future__ import annotations

from fastapi import FastAPI

from actors.registry import Runtime
from serve_app.errors import install_error_handlers
from serve_app.routes import chat, health, ws

API_DESCRIPTION = (
    "Chat & session runtime for LLM apps on Ray. REST for sessions and messages, WebSocket for "
    "chat turns. Every JSON body is the envelope `{status_code, status_message, data}`."
)


def build_api(runtime: Runtime) -> FastAPI:
    """A FastAPI app bound to one replica's runtime."""
    app = FastAPI(title="raychat", version="0.1.0", description=API_DESCRIPTION)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(ws.router)
    return app
