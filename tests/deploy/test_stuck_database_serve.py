"""A stuck database end to end (API.md §6a, review §10): `raychat serve --demo` (real Ray + Serve in
HAProxy mode) on a real PostgreSQL that it reaches through a proxy the test blackholes. REST
answers 503 within 10 s, a WebSocket turn ends with an error frame within 10 s, the socket stays
usable, and once the network path is back REST and turns work again.

In the deploy tier: it runs its own Serve deployment, and only one may exist per machine at a time
(the e2e tier's starts after this module's has stopped)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from serve_app.errors import CLOSE_INTERNAL
from tests.e2e.conftest import STOP_TIMEOUT_S, _value, free_port, start_demo_server
from tests.integration.tcp_blackhole import BlackholeProxy
from tests.integration.test_stuck_database import PG_HOST, PG_PORT, _reset_database

pytestmark = pytest.mark.e2e
WITHIN_S = 10.0
RECOVER_WITHIN_S = 60.0


class Stuck:
    """The running server, its demo token and flow, and the proxy in front of its database."""

    def __init__(self, base: str, token: str, flow_id: str, proxy: BlackholeProxy) -> None:
        self.base, self.token, self.flow_id, self.proxy = base, token, flow_id, proxy
        self.ws = base.replace("http://", "ws://") + f"/api/v1/chat/chat/{flow_id}?t={token}"

    def chat_list(self) -> httpx.Response:
        return httpx.get(
            f"{self.base}/api/v1/chat/chat/list",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def stuck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stuck]:
    database = f"raychat_stuck_serve_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_reset_database(create=True, name=database))
    except Exception as exc:  # PostgreSQL missing: nothing to test here
        pytest.skip(f"PostgreSQL at {PG_HOST}:{PG_PORT} unavailable: {exc}")
    proxy = BlackholeProxy(PG_HOST, PG_PORT)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "RAYCHAT_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{proxy.port}/{database}",
        "RAYCHAT_DB_STATEMENT_TIMEOUT_S": "2",
        "RAYCHAT_DB_POOL_TIMEOUT_S": "2",
        "RAYCHAT_STORAGE_CALL_TIMEOUT_S": "5",
        "RAYCHAT_SESSION_HOSTS": "1",
        "RAYCHAT_RATE_FRAMES_PER_SECOND": "0",
    }
    try:
        proc, lines = start_demo_server(port, tmp_path_factory.mktemp("stuck-serve"), env)
    except BaseException:
        proxy.close()
        raise
    try:
        yield Stuck(
            f"http://127.0.0.1:{port}",
            _value(lines, "demo token"),
            _value(lines, "demo flow_id"),
            proxy,
        )
    finally:
        proxy.restore()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)
        proxy.close()
        asyncio.run(_reset_database(create=False, name=database))


async def _ask(ws: ClientConnection, text: str) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"inputs": {"input": text}}))
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != "close":
        frames.append(json.loads(await ws.recv()))
    return frames


def _recovered(stuck: Stuck) -> bool:
    deadline = time.monotonic() + RECOVER_WITHIN_S
    while time.monotonic() < deadline:
        if stuck.chat_list().status_code == 200:
            return True
        time.sleep(0.5)
    return False


async def test_a_stuck_database_is_503_and_an_error_frame_then_recovers(stuck: Stuck) -> None:
    chat = f"{stuck.ws}&chat_id={uuid.uuid4().hex}"
    async with websockets.connect(chat) as ws:
        assert (await _ask(ws, "before"))[-2]["message"] == "echo(0): before"
        assert stuck.chat_list().status_code == 200

        stuck.proxy.blackhole()
        started = time.monotonic()
        response = await asyncio.to_thread(stuck.chat_list)
        assert time.monotonic() - started < WITHIN_S
        assert response.status_code == 503, response.text
        assert response.json()["status_code"] == 503
        assert int(response.headers["Retry-After"]) >= 1

        # A turn on an open socket ends with an error frame, and the socket stays open.
        started = time.monotonic()
        async with asyncio.timeout(WITHIN_S):
            frames = await _ask(ws, "during")
        errors = [f for f in frames if (f["type"], f["category"]) == ("end", "error")]
        assert errors and errors[0]["message"]["status_code"] == 503, frames
        assert frames[-1]["type"] == "close"

        # A new socket cannot read its app: closed at once (1011, API.md §4), not left hanging.
        async with asyncio.timeout(WITHIN_S):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with websockets.connect(f"{stuck.ws}&chat_id={uuid.uuid4().hex}") as other:
                    await other.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_INTERNAL

        stuck.proxy.restore()
        assert await asyncio.to_thread(_recovered, stuck), "REST did not recover"
        frames = await _ask(ws, "after")  # the same socket, after the outage
        assert frames[-2]["message"].endswith(": after")
        assert isinstance(frames[-2]["message_id"], int)
