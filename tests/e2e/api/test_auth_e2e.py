"""Authentication and roles over the real server: every endpoint refuses a missing or bad
token with 401, admin-only endpoints refuse users with 403, and a forged admin claim is not
honoured."""

from __future__ import annotations

import httpx
import pytest

from serve_app.auth.tokens import COOKIE_NAME, Principal, issue_token
from tests.e2e.api.accounts import PASSWORD, Account, client, register
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
ID = "0" * 32

AUTHENTICATED = [
    ("GET", "/api/v1/user/info", None),
    ("POST", "/api/v1/flows", {"name": "x", "data": {}}),
    ("GET", "/api/v1/flows", None),
    ("GET", f"/api/v1/flows/{ID}", None),
    ("GET", f"/api/v1/flows/{ID}/versions", None),
    ("PATCH", f"/api/v1/flows/{ID}", {"status": 2}),
    ("DELETE", f"/api/v1/flows/{ID}", None),
    ("POST", "/api/v1/assistant", {"name": "x", "prompt": "", "model": {}}),
    ("GET", "/api/v1/assistant", None),
    ("GET", f"/api/v1/assistant/{ID}", None),
    ("PATCH", f"/api/v1/assistant/{ID}", {"status": 2}),
    ("DELETE", f"/api/v1/assistant/{ID}", None),
    ("GET", "/api/v1/chat/chat/list", None),
    ("GET", f"/api/v1/chat/chat/history?chat_id=c&flow_id={ID}", None),
    ("GET", "/api/v1/chat/chat/info?chat_id=c", None),
    ("GET", "/api/v1/chat/chat/online", None),
    ("POST", "/api/v1/chat/chat/message", {"flow_id": ID, "chat_id": "c", "human_message": "q"}),
    ("PUT", "/api/v1/chat/chat/message/1", {"message": "m"}),
    ("DELETE", "/api/v1/chat/chat/message/1", None),
    ("POST", "/api/v1/chat/liked", {"message_id": 1, "liked": 1}),
    ("POST", "/api/v1/chat/copied", {"message_id": 1}),
    ("POST", "/api/v1/chat/comment", {"message_id": 1, "comment": "c"}),
    ("POST", "/api/v1/chat/chat/conversation/rename", {"conversationId": "c", "name": "n"}),
    ("POST", "/api/v1/chat/chat/conversation/copy", {"conversationId": "c"}),
    ("DELETE", "/api/v1/chat/c", None),
    ("GET", f"/api/v1/session/chat/history?chat_id=c&flow_id={ID}", None),
    ("GET", "/api/v1/session/chat/messages/c", None),
    ("POST", "/api/v1/session/chat/message/telemetry", {"message_id": 1, "operation_type": "copy"}),
    ("GET", "/api/v1/audit/session", None),
    ("GET", "/api/v1/audit/log?user_id=1", None),
    ("GET", "/api/v1/audit/telemetry?event_type=message_feedback", None),
    ("GET", "/api/v1/chat/stats", None),
]
ADMIN_ONLY = [
    "/api/v1/audit/session",
    "/api/v1/audit/log?user_id=1",
    "/api/v1/audit/telemetry?event_type=message_feedback",
]


@pytest.mark.parametrize("token", [None, "garbage", "expired"])
def test_every_endpoint_needs_a_valid_token(server: Server, token: str | None) -> None:
    if token == "expired":
        token = issue_token(server.secret, Principal(server.user_id, "demo"), ttl_s=-10)
    with client(server, token) as http:
        for method, path, body in AUTHENTICATED:
            response = http.request(method, path, json=body)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["status_code"] == 401
            assert response.json()["data"] is None or "exception" not in response.json()["data"]


def test_public_endpoints_need_no_token(server: Server) -> None:
    with client(server) as http:
        assert http.get("/health").status_code == 200
        assert http.get("/metrics").status_code == 200
        assert http.get("/openapi.json").status_code == 200


def test_login_cookie_authenticates_rest(server: Server, alice: Account) -> None:
    with client(server) as http:
        login = http.post(
            "/api/v1/user/login", json={"user_name": alice.user_name, "password": PASSWORD}
        )
        assert login.status_code == 200
        assert http.cookies.get(COOKIE_NAME) == login.json()["data"]["access_token"]
        me = http.get("/api/v1/user/info")  # the client sends the cookie it was given
    assert me.json()["data"]["user_id"] == alice.user_id


def test_wrong_password_and_duplicate_name(server: Server, alice: Account) -> None:
    with client(server) as http:
        wrong = {"user_name": alice.user_name, "password": "not-the-password"}
        assert http.post("/api/v1/user/login", json=wrong).status_code == 401
        again = {"user_name": alice.user_name, "password": PASSWORD}
        assert http.post("/api/v1/user/register", json=again).status_code == 409


def test_registered_users_are_not_admins(server: Server) -> None:
    carol = register(server, "carol")
    try:
        assert carol.data(carol.get("/api/v1/user/info"))["role"] == "user"
    finally:
        carol.http.close()


@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_admin_only_endpoints(server: Server, alice: Account, admin: Account, path: str) -> None:
    refused = alice.http.get(path)
    assert refused.status_code == 403 and refused.json()["status_code"] == 403
    forged = issue_token(server.secret, Principal(alice.user_id, alice.user_name, "admin"))
    with client(server, forged) as http:
        assert http.get(path).status_code == 403  # the user table says alice is no admin
    assert admin.http.get(path).status_code == 200


def test_admin_role_comes_from_the_user_table(admin: Account) -> None:
    assert admin.data(admin.get("/api/v1/user/info"))["role"] == "admin"


def test_openapi_lists_every_endpoint_with_models(server: Server) -> None:
    spec = httpx.get(f"{server.base}/openapi.json", timeout=30).json()
    paths = spec["paths"]
    for method, path, _ in AUTHENTICATED:
        template = path.split("?")[0].replace(ID, "{flow_id}")
        matches = [p for p in paths if _same(p, template) and method.lower() in paths[p]]
        assert len(matches) == 1, path
        operation = paths[matches[0]][method.lower()]
        assert "200" in operation["responses"] and "401" in operation["responses"]
    assert "FlowCreate" in spec["components"]["schemas"]
    assert "examples" in spec["components"]["schemas"]["FlowCreate"]


def _same(template: str, path: str) -> bool:
    left, right = template.strip("/").split("/"), path.strip("/").split("/")
    return len(left) == len(right) and all(
        a == b or a.startswith("{") for a, b in zip(left, right, strict=True)
    )
