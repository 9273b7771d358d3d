"""The edge: domain errors become HTTP statuses, envelopes and WebSocket frames here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from actors.errors import RaychatError
from actors.frames import Frame, error_message, make_frame
from serve_app.routes.aliases import BISHENG_STYLE_ERRORS

log = logging.getLogger(__name__)

_HTTP_STATUS = {
    401: 401,
    403: 403,
    404: 404,
    405: 405,
    409: 409,
    413: 413,
    422: 422,
    429: 429,
    503: 503,
    13001: 404,
    13002: 403,
    13004: 500,
    13005: 500,
    10420: 404,
    10421: 403,
    10499: 500,
}


def http_status(code: int) -> int:
    """HTTP status for a business code (API.md §6)."""
    return _HTTP_STATUS.get(code, 500)


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
