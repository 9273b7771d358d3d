"""The FastAPI application: routers, error translation, request metrics, and what one replica
holds on `app.state` (runtime, REST configuration, rate limiter)."""

from __future__ import annotations

from fastapi import FastAPI

from actors.ray.registry import Runtime
from serve_app.auth.passwords import PasswordHashing
from serve_app.body_limit import BodyLimit
from serve_app.errors import install_error_handlers
from serve_app.limits import Limits, build_limiter
from serve_app.observability.metrics import RequestMetrics
from serve_app.routes import (
    assistants,
    audit,
    bisheng,
    build,
    feedback,
    flows,
    health,
    messages,
    metrics,
    monitor,
    online,
    pages,
    sessions,
    stats,
    users,
)
from serve_app.settings import ApiConfig
from serve_app.ws import routes as ws

API_DESCRIPTION = (
    "Chat & session runtime for LLM apps on Ray. REST for apps, sessions and messages, "
    "WebSocket for chat turns. Every JSON body is the envelope `{status_code, status_message, "
    "data}`; the HTTP status matches the error class (401/403/404/409/413/422/429/500/503). "
    "Authenticate with `Authorization: Bearer <token>` or the `access_token_cookie` cookie "
    "(from `POST /api/v1/user/login`); WebSockets also accept `?t=<token>`."
)
ROUTERS = (
    health,
    metrics,
    users,
    flows,
    assistants,
    online,
    sessions,
    messages,
    feedback,
    audit,
    bisheng,
    build,
    stats,
    ws,
    monitor,
    pages,
)


def build_api(runtime: Runtime, config: ApiConfig | None = None) -> FastAPI:
    """A FastAPI app bound to one replica's runtime."""
    config = config or ApiConfig()
    app = FastAPI(title="raychat", version="0.1.0", description=API_DESCRIPTION)
    app.state.runtime = runtime
    app.state.api_config = config
    app.state.limiter = build_limiter(
        Limits(
            asks_per_minute=config.asks_per_minute,
            concurrent_turns=config.concurrent_turns,
            logins_per_minute=config.logins_per_minute,
            logins_per_address_per_minute=config.logins_per_address_per_minute,
        ),
        runtime.config.redis_url,
        runtime.config.namespace,
    )
    app.state.passwords = PasswordHashing(config.password_hash_workers, config.password_hash_queue)
    install_error_handlers(app)
    app.add_middleware(RequestMetrics)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)  # outermost: first to see a body
    for module in ROUTERS:
        app.include_router(module.router)
    return app
