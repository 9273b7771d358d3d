"""Issue 8 over the real server: sockets authenticated by the cookie check `Origin`; the
generated JWT secret is the database's (so `raychat token` works without RAYCHAT_JWT_SECRET) and
the old public dev secret signs nothing; the console shows no token in a URL and no password."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
import websockets
from websockets.typing import Origin

from serve_app.auth.tokens import COOKIE_NAME, Principal, issue_token
from tests.e2e.api.accounts import Account
from tests.e2e.conftest import ALLOWED_ORIGIN, Server

pytestmark = pytest.mark.e2e
OLD_DEV_SECRET = "raychat-dev-secret-change-me-before-production"


def flow_url(server: Server, query: str = "") -> str:
    return f"{server.ws_base}/api/v1/chat/chat/{server.flow_id}{query}"


async def outcome(url: str, headers: dict[str, str], origin: str | None) -> int | str:
    """1008 (or another close code) when refused, "answered" when an ask got its turn."""
    sent_origin = None if origin is None else Origin(origin)
    async with websockets.connect(url, additional_headers=headers, origin=sent_origin) as ws:
        try:
            await ws.send(json.dumps({"inputs": {"input": "origin?"}}))
            while json.loads(await ws.recv())["type"] != "close":
                pass
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
    return "answered"


def cookie(account: Account) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={account.token}"}


async def test_cookie_socket_from_a_foreign_origin_is_refused(
    server: Server, alice: Account
) -> None:
    assert await outcome(flow_url(server), cookie(alice), "https://evil.example") == 1008
    assert await outcome(flow_url(server), cookie(alice), None) == 1008  # no Origin at all


async def test_cookie_socket_from_the_own_or_an_allowed_origin_works(
    server: Server, alice: Account
) -> None:
    assert await outcome(flow_url(server), cookie(alice), server.base) == "answered"
    assert await outcome(flow_url(server), cookie(alice), ALLOWED_ORIGIN) == "answered"


async def test_header_and_query_tokens_need_no_origin(server: Server, alice: Account) -> None:
    bearer = {"Authorization": f"Bearer {alice.token}"}
    assert await outcome(flow_url(server), bearer, None) == "answered"
    assert await outcome(flow_url(server), bearer, "https://evil.example") == "answered"
    assert await outcome(flow_url(server, f"?t={alice.token}"), {}, None) == "answered"


def test_the_old_public_dev_secret_signs_nothing(server: Server) -> None:
    forged = issue_token(OLD_DEV_SECRET, Principal(server.user_id, "demo", "admin"))
    response = httpx.get(
        f"{server.base}/api/v1/user/info", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    assert len(server.secret.encode()) >= 32 and server.secret != OLD_DEV_SECRET


def test_raychat_token_signs_with_the_database_secret(server: Server) -> None:
    unset = ("RAYCHAT_JWT_SECRET", "RAYCHAT_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    command = ["token", "--user-id", str(server.user_id), "--user-name", "demo"]
    made = subprocess.run(
        [sys.executable, "-m", "serve_app.cli", *command],
        cwd=server.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = made.stdout.strip()
    response = httpx.get(
        f"{server.base}/api/v1/user/info", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.json()["data"]["user_id"] == server.user_id


def test_console_prints_no_token_in_a_url(server: Server) -> None:
    printed = "\n".join(server.output)
    assert f"demo token: {server.token}" in printed  # once, on its own line
    assert f"t={server.token}" not in printed
    assert printed.count(server.token) == 1
