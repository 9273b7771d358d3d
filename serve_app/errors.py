"""The edge: domain errors become HTTP statuses, envelopes and WebSocket frames here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from actors.errors import (
    AssistantDeleted,
    AssistantError,
    AssistantOffline,
    ChatServiceError,
    Conflict,
    FlowDeleted,
    FlowOffline,
    Forbidden,
    InvalidInput,
    ModelExecutionError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RaychatError,
    StorageUnavailable,
    Unauthorized,
)
from actors.frames import Frame, error_message, make_frame
from serve_app.routes.aliases import BISHENG_STYLE_ERRORS

log = logging.getLogger(__name__)

# HTTP status of each business code (API.md §6); 405 has no domain error (routing answers it).
_HTTP_STATUS = {
    Unauthorized.code: 401,
    Forbidden.code: 403,
    NotFound.code: 404,
    405: 405,
    Conflict.code: 409,
    PayloadTooLarge.code: 413,
    InvalidInput.code: 422,
    RateLimited.code: 429,
    StorageUnavailable.code: 503,
    FlowDeleted.code: 404,
    FlowOffline.code: 403,
    ChatServiceError.code: 500,
    ModelExecutionError.code: 500,
    AssistantDeleted.code: 404,
    AssistantOffline.code: 403,
    AssistantError.code: 500,
}

# WebSocket close codes (RFC 6455 §7.4.1) the server sends (API.md §4).
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
# A socket refused before its loop: token, app existence, app status and app ownership problems
# are policy violations (1008), anything else an internal failure (1011).
_POLICY_ERRORS = (
    Unauthorized,
    Forbidden,
    NotFound,
    FlowDeleted,
    FlowOffline,
    AssistantDeleted,
    AssistantOffline,
)
_POLICY_CODES = frozenset(error.code for error in _POLICY_ERRORS)


def http_status(code: int) -> int:
    """HTTP status for a business code (API.md §6)."""
    return _HTTP_STATUS.get(code, 500)


def close_code(exc: RaychatError) -> int:
    """The close code of a socket refused with `exc` before its loop started."""
    return CLOSE_POLICY if exc.code in _POLICY_CODES else CLOSE_INTERNAL


def envelope(data: Any = None, code: int = 200, message: str = "SUCCESS") -> dict[str, Any]:
    """The response body of every JSON endpoint."""
    return {"status_code": code, "status_message": message, "data": data}


UNAVAILABLE_RETRY_AFTER_S = 2  # a 503 without its own hint: storage timeouts, restarts


def bisheng_style(request: Request) -> bool:
    """True for a route served at Bisheng's own path (API.md §4.5): its errors answer HTTP 200
    with the business code in the envelope, as Bisheng does, so Bisheng's frontends (whose
    interceptors read `status_code` only from a 2xx) show their own messages; 401 stays 401
    (both frontends' login-expired handling keys on it). docs/api.md "Bisheng frontends"."""
    route = request.scope.get("route")
    return getattr(route, "path", None) in BISHENG_STYLE_ERRORS


def _edge_status(request: Request, status: int) -> int:
    return 200 if status != 401 and bisheng_style(request) else status


def error_response(exc: RaychatError, request: Request | None = None) -> JSONResponse:
    """A RaychatError as an HTTP response; 429 and 503 carry `Retry-After`."""
    status = http_status(exc.code)
    if request is not None:
        status = _edge_status(request, status)
    retry_after = exc.data.get("retry_after")
    if retry_after is None and status == 503:
        retry_after = UNAVAILABLE_RETRY_AFTER_S
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body = envelope(exc.data or None, exc.code, exc.message)
    return JSONResponse(body, status_code=status, headers=headers)


def error_frame(exc: RaychatError, flow_id: str | None, chat_id: str | None) -> Frame:
    """A RaychatError as the WebSocket error frame (API.md §4); not part of a chat's log."""
    return make_frame(
        "end",
        "error",
        flow_id=flow_id,
        chat_id=chat_id,
        message=error_message(exc.code, exc.message, exc.data),
    )


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RaychatError)
    return error_response(exc, request)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    body = envelope({"errors": details}, 422, "Invalid input")
    return JSONResponse(body, status_code=_edge_status(request, 422))


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    # Routing answers (unknown path 404, wrong method 405) get the envelope too.
    assert isinstance(exc, HTTPException)
    body = envelope(None, exc.status_code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    body = envelope(None, 500, "Internal server error")
    return JSONResponse(body, status_code=_edge_status(request, 500))


def install_error_handlers(app: FastAPI) -> None:
    """Register the translations on an app."""
    app.add_exception_handler(RaychatError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
