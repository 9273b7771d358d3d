"""The route table of API.md §4.5: a request on every documented path and on Bisheng's real
path for it is dispatched to one route whose template is that path, and both run the same
handler (the router's own choice, observed on the ASGI scope after dispatch)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from actors.config import RuntimeConfig, StorageConfig
from serve_app.api import build_api
from serve_app.errors import CLOSE_POLICY
from serve_app.routes.aliases import BISHENG_ONLY_PATHS, BISHENG_PATHS


class _NoRuntime:
    config = RuntimeConfig(storage=StorageConfig(database_url="sqlite://"), jwt_secret="s" * 32)


APP = build_api(_NoRuntime())  # type: ignore[arg-type]
Dispatched = tuple[Callable[..., Any], str]


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "3f2a9c0e7b1d4e5f8a6b9c0d1e2f3a4b", template)


async def _dispatch(method: str, template: str) -> Dispatched:
    """(handler, route template) the app dispatched a request on `template` to. Unauthenticated:
    routing happens before the 401 (or the socket's 1008)."""
    seen: list[Dispatched] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        await APP(scope, receive, send)
        seen.append((scope.get("endpoint"), getattr(scope.get("route"), "path", "")))

    path = _concrete(template)
    if method == "WS":
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            TestClient(spy).websocket_connect(path) as ws,
        ):
            ws.receive_text()
        assert closed.value.code == CLOSE_POLICY  # reached the socket handler, refused for no token
    else:
        transport = httpx.ASGITransport(app=spy)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.request(method, path, json={} if method != "GET" else None)
        assert response.status_code == 401, (method, path, response.status_code)
    [dispatched] = seen
    return dispatched


@pytest.mark.parametrize(("method", "documented"), list(BISHENG_PATHS))
async def test_both_forms_reach_one_and_the_same_handler(method: str, documented: str) -> None:
    bisheng = BISHENG_PATHS[(method, documented)]
    ours_handler, ours_route = await _dispatch(method, documented)
    theirs_handler, theirs_route = await _dispatch(method, bisheng)
    assert (ours_route, theirs_route) == (documented, bisheng)
    assert ours_handler is theirs_handler


SHARED_PATHS = [
    ("DELETE", "/api/v1/chat/{chat_id}"),
    ("POST", "/api/v1/chat/copied"),
    ("POST", "/api/v1/chat/comment"),
    ("GET", "/api/v1/session/chat/history"),
    ("GET", "/api/v1/session/chat/messages/{conversationId}"),
    ("POST", "/api/v1/session/chat/message/telemetry"),
    ("GET", "/api/v1/audit/session"),
    ("WS", "/api/v1/assistant/chat/{assistant_id}"),
]
ONLY_PATHS = [
    ("POST", "/api/v1/build/init/{flow_id}"),
    ("GET", "/api/v1/build/stream/{flow_id}"),
    ("GET", "/api/v1/assistant/info/{assistant_id}"),
    ("GET", "/api/v1/chat/app/list"),
    ("GET", "/api/v1/workstation/app/conversations"),
]


@pytest.mark.parametrize(("method", "path"), SHARED_PATHS + ONLY_PATHS)
async def test_bisheng_only_and_shared_paths_have_their_own_route(method: str, path: str) -> None:
    _, route = await _dispatch(method, path)
    assert route == path
    assert {p for _, p in ONLY_PATHS} == BISHENG_ONLY_PATHS
