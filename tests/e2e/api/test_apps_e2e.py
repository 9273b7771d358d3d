"""The app registry over the real server (API.md §2): flows and assistants, their checks,
privacy between users, admin reads, and what deleting an app does to its sessions."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import demo_graph
from tests.e2e.api.accounts import Account, chat_turn
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
FLOW_FIELDS = {
    "id", "name", "description", "logo", "status", "version", "data", "user_id",
    "create_time", "update_time",
}  # fmt: skip
ASSISTANT_FIELDS = {
    "id", "name", "prompt", "model", "tools", "guide_word", "status", "user_id",
    "create_time", "update_time",
}  # fmt: skip
MODEL = {"provider": "demo", "model": "echo"}


def test_flow_lifecycle(alice: Account) -> None:
    created = alice.data(
        alice.post("/api/v1/flows", {"name": "Mine", "description": "d", "data": demo_graph()})
    )
    assert set(created) >= FLOW_FIELDS and created["public"] is False
    assert (created["status"], created["version"], created["user_id"]) == (1, 1, alice.user_id)
    assert created["create_time"].endswith("+00:00")
    flow_id = created["id"]
    assert len(flow_id) == 32 and int(flow_id, 16) >= 0
    assert alice.data(alice.get(f"/api/v1/flows/{flow_id}"))["data"] == created["data"]
    online = alice.data(alice.patch(f"/api/v1/flows/{flow_id}", {"status": 2, "name": "Renamed"}))
    assert (online["status"], online["name"], online["version"]) == (2, "Renamed", 1)
    graph = copy.deepcopy(created["data"])
    graph["nodes"][1]["params"]["system"] = "Be brief."
    v2 = alice.data(alice.patch(f"/api/v1/flows/{flow_id}", {"data": graph}))
    assert v2["version"] == 2 and v2["data"] == graph
    listed = alice.data(alice.get("/api/v1/flows", page=1, limit=100))
    assert flow_id in [f["id"] for f in listed["list"]] and listed["total"] >= 1
    assert alice.data(alice.delete(f"/api/v1/flows/{flow_id}")) is None
    assert alice.get(f"/api/v1/flows/{flow_id}").status_code == 404
    assert alice.delete(f"/api/v1/flows/{flow_id}").status_code == 404


@pytest.mark.parametrize(
    "change, node",
    [
        (lambda g: g["nodes"][3]["params"].update(provider="nope"), "model"),
        (lambda g: g["edges"].append({"source": "out", "target": "ghost"}), "ghost"),
        (lambda g: g["nodes"][1]["params"].update(template="{nobody}"), "prompt"),
    ],
    ids=["unknown-provider", "dangling-edge", "missing-input-variable"],
)
def test_graph_that_does_not_compile_is_422_with_node(
    alice: Account, change: Callable[[dict[str, Any]], object], node: str
) -> None:
    graph = demo_graph()
    change(graph)
    response = alice.post("/api/v1/flows", {"name": "bad", "data": graph})
    assert response.status_code == 422, response.text
    assert response.json()["data"]["node_id"] == node
    flow = alice.create_flow(online=False)
    patched = alice.patch(f"/api/v1/flows/{flow['id']}", {"data": graph})
    assert patched.status_code == 422
    assert alice.data(alice.get(f"/api/v1/flows/{flow['id']}"))["version"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "data": {}},
        {"name": "x"},
        {"name": "x", "data": []},
        {"name": "x" * 256, "data": {}},
        {"name": "x", "data": {**demo_graph(), "placement": "far away"}},
        {"name": "x", "data": {**demo_graph(), "placement": "dedicated", "resources": {"GPU": -1}}},
        {"name": "x", "data": {**demo_graph(), "placement": "dedicated", "profile": "nope"}},
        {"name": "x", "data": demo_graph(base_url="http://127.0.0.1:1/v1")},
        {"name": "x", "data": demo_graph(api_key_env="RAYCHAT_JWT_SECRET")},
    ],
)
def test_bad_flow_bodies_are_422(alice: Account, body: dict[str, object]) -> None:
    response = alice.post("/api/v1/flows", body)
    assert response.status_code == 422 and response.json()["status_code"] == 422
    assert response.json()["data"]


def test_patch_values_are_checked(alice: Account) -> None:
    flow = alice.create_flow(online=False)
    for body in ({"status": 3}, {"status": "on"}, {"name": ""}, {"data": "graph"}):
        assert alice.patch(f"/api/v1/flows/{flow['id']}", body).status_code == 422
    for bad in ("page=0", "limit=101", "page=x"):
        assert alice.http.get(f"/api/v1/flows?{bad}").status_code == 422


def test_private_flow_is_invisible_and_unchangeable_for_others(
    alice: Account, bob: Account, admin: Account
) -> None:
    flow = alice.create_flow()
    path = f"/api/v1/flows/{flow['id']}"
    assert bob.get(path).status_code == 403
    assert bob.get(f"{path}/versions").status_code == 403
    assert bob.patch(path, {"name": "mine now", "status": 1}).status_code == 403
    assert bob.delete(path).status_code == 403
    assert flow["id"] not in [
        f["id"] for f in bob.data(bob.get("/api/v1/flows", limit=100))["list"]
    ]
    assert admin.data(admin.get(path))["id"] == flow["id"]
    assert admin.patch(path, {"name": "admin edit"}).status_code == 403  # admins only read
    assert alice.data(alice.get(path)) == flow  # nothing changed
    missing = f"/api/v1/flows/{uuid.uuid4().hex}"
    assert bob.get(missing).status_code == 404 and bob.patch(missing, {}).status_code == 404


def test_public_flow_is_readable_and_usable_but_not_changeable(
    server: Server, alice: Account, bob: Account
) -> None:
    flow = alice.create_flow(public=True)
    assert bob.data(bob.get(f"/api/v1/flows/{flow['id']}"))["public"] is True
    assert bob.patch(f"/api/v1/flows/{flow['id']}", {"public": False}).status_code == 403
    online = bob.data(bob.get("/api/v1/chat/chat/online", keyword=flow["name"]))
    assert [a["id"] for a in online] == [flow["id"]]


async def test_deleting_a_flow_stops_its_live_session(
    server: Server, alice: Account, admin: Account
) -> None:
    flow = alice.create_flow()
    chat_id = uuid.uuid4().hex
    frames = await chat_turn(server, alice, flow["id"], chat_id, "hello")
    assert frames[-2]["category"] == "answer"
    live_before = _live_sessions(server)
    assert alice.data(alice.delete(f"/api/v1/flows/{flow['id']}")) is None
    assert _live_sessions(server) == live_before - 1
    info = alice.info(chat_id)  # still there, so Bisheng's client can say "app deleted"
    assert info is not None and info["is_delete"] is True and info["flow_name"] == flow["name"]
    assert alice.data(alice.history(chat_id, flow["id"])) == []
    listed = alice.data(alice.get("/api/v1/chat/chat/list", limit=100))
    assert chat_id not in [c["chat_id"] for c in listed]
    audit = admin.data(admin.get("/api/v1/audit/session", flow_id=flow["id"]))
    assert [(s["chat_id"], s["is_delete"]) for s in audit["list"]] == [(chat_id, True)]


def _live_sessions(server: Server) -> float:
    text = httpx.get(f"{server.base}/metrics", timeout=30).text
    rows = [r for r in text.splitlines() if r.startswith("raychat_live_sessions{")]
    assert rows
    return sum(float(r.split()[-1]) for r in rows)


def test_assistant_lifecycle_and_privacy(alice: Account, bob: Account, admin: Account) -> None:
    body = {"name": "Helper", "prompt": "Be kind.", "model": MODEL, "tools": ["calculator"]}
    created = alice.data(alice.post("/api/v1/assistant", body))
    assert set(created) >= ASSISTANT_FIELDS
    assert (created["status"], created["tools"], created["user_id"]) == (
        1,
        ["calculator"],
        alice.user_id,
    )
    path = f"/api/v1/assistant/{created['id']}"
    online = alice.data(alice.patch(path, {"status": 2, "guide_word": "Hi!"}))
    assert (online["status"], online["guide_word"]) == (2, "Hi!")
    assert bob.get(path).status_code == 403
    assert bob.patch(path, {"status": 1}).status_code == 403
    assert bob.delete(path).status_code == 403
    assert admin.data(admin.get(path))["id"] == created["id"]
    listed = bob.data(bob.get("/api/v1/assistant", limit=100))["list"]
    assert created["id"] not in [a["id"] for a in listed]
    assert alice.data(alice.get(path))["status"] == 2  # unchanged by bob
    assert alice.data(alice.delete(path)) is None
    assert alice.get(path).status_code == 404


@pytest.mark.parametrize(
    "change, words",
    [
        ({"model": {"provider": "skynet"}}, "provider"),
        ({"model": {"provider": "demo", "max_tokens": 0}}, "max_tokens"),
        ({"tools": ["teleport"]}, "teleport"),
        ({"tools": [7]}, "string"),
        ({"tools": ["flow:" + "f" * 32]}, "does not exist"),
        ({"prompt": None}, "prompt"),
    ],
)
def test_bad_assistants_are_422_with_a_reason(
    alice: Account, change: dict[str, object], words: str
) -> None:
    body = {"name": "A", "prompt": "p", "model": MODEL, **change}
    response = alice.post("/api/v1/assistant", body)
    assert response.status_code == 422, response.text
    assert words in response.text


def test_flow_tools_must_be_the_callers_to_use(alice: Account, bob: Account) -> None:
    private = alice.create_flow()
    body = {"name": "A", "prompt": "p", "model": MODEL, "tools": [f"flow:{private['id']}"]}
    assert bob.post("/api/v1/assistant", body).status_code == 403
    assert alice.data(alice.post("/api/v1/assistant", body))["tools"] == body["tools"]
