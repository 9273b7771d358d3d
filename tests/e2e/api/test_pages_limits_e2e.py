"""Built-in pages, the admin monitor endpoint, per-user turn limits and turn metrics over
real sockets."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import httpx
import pytest
import websockets

from tests.conftest import demo_graph
from tests.e2e.api.accounts import Account, chat_turn, register
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("path", ["/", "/dashboard"])
def test_pages_are_served(server: Server, path: str) -> None:
    response = httpx.get(server.base + path, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "raychat" in response.text


def test_monitor_is_for_admins(server: Server, admin: Account, alice: Account) -> None:
    data = admin.data(admin.get("/api/v1/monitor/actors"))
    assert "raychat-storage" in data["actors"]
    assert set(data["storage"]) >= {"queue_depth", "recent_flushes"}
    assert all(isinstance(n, int) for n in data["hosts"].values())
    assert alice.get("/api/v1/monitor/actors").status_code == 403
    assert httpx.get(server.base + "/api/v1/monitor/actors", timeout=30).status_code == 401


async def test_concurrent_turns_over_the_limit_get_429(server: Server) -> None:
    user = register(server, "busy")
    flow = user.create_flow(data=demo_graph(tokens_per_second=20, answer_tokens=400))
    url = f"{server.ws_base}/api/v1/chat/chat/{flow['id']}?t={user.token}"
    sockets = [await websockets.connect(f"{url}&chat_id={uuid.uuid4().hex}") for _ in range(5)]
    try:
        firsts = []
        for ws in sockets:  # one at a time, so the fifth is the one over the limit of four
            await ws.send(json.dumps({"inputs": {"input": "long"}}))
            firsts.append(json.loads(await ws.recv()))
        assert [f["type"] for f in firsts[:4]] == ["begin"] * 4
        refused = firsts[4]
        assert (refused["type"], refused["category"]) == ("end", "error")
        assert refused["message"]["status_code"] == 429
        assert refused["message"]["data"]["retry_after"] > 0
        await asyncio.gather(*(ws.send(json.dumps({"action": "stop"})) for ws in sockets[:4]))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


def turns_ended(server: Server) -> float:
    text = httpx.get(server.base + "/metrics", timeout=30).text
    match = re.search(
        r'^raychat_turns_ended_total\{app_type="flow",outcome="finished"\} (\S+)$', text, re.M
    )
    return float(match.group(1)) if match else 0.0


async def test_a_finished_turn_is_counted(server: Server, alice: Account) -> None:
    flow = alice.create_flow()
    before = turns_ended(server)
    frames = await chat_turn(server, alice, flow["id"], uuid.uuid4().hex, "count me")
    assert frames[-1]["type"] == "close"
    assert turns_ended(server) == before + 1


async def test_socket_turns_write_telemetry(server: Server, admin: Account, alice: Account) -> None:
    flow = alice.create_flow()
    chat_id = uuid.uuid4().hex
    await chat_turn(server, alice, flow["id"], chat_id, "observe me")

    def chats_of(event_type: str) -> set[str]:
        events = admin.data(admin.get("/api/v1/audit/telemetry", event_type=event_type, limit=1000))
        return {json.dumps(e) for e in events if chat_id in json.dumps(e)}

    # Written in the background after the turn: wait for them by polling the API (bounded).
    for _ in range(100):
        if all(
            chats_of(t) for t in ("new_message_session", "application_process", "application_alive")
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("telemetry events for the chat were not written")
