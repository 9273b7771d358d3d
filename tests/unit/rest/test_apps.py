"""App registry in process: compile checks, versions, model/tool checks, deletes that stop the
apps' live sessions."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import demo_graph
from tests.unit.rest.conftest import Api


async def create_flow(api: Api, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "f", "data": demo_graph(), **fields}
    response = await api.client.post("/api/v1/flows", json=body, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_graph_that_does_not_compile_names_its_node(api: Api) -> None:
    ann = await api.user("ann")
    graph = demo_graph()
    graph["nodes"][3]["params"]["provider"] = "nope"
    response = await api.client.post(
        "/api/v1/flows", json={"name": "bad", "data": graph}, headers=ann
    )
    assert response.status_code == 422
    assert response.json()["data"]["node_id"] == "model"
    listed = await api.client.get("/api/v1/flows", headers=ann)
    assert listed.json()["data"] == {"list": [], "total": 0}


async def test_bad_placement_is_refused(api: Api) -> None:
    ann = await api.user("ann")
    graph = {**demo_graph(), "placement": "dedicated", "resources": {"GPU": "many"}}
    response = await api.client.post(
        "/api/v1/flows", json={"name": "p", "data": graph}, headers=ann
    )
    assert response.status_code == 422 and "resources" in response.json()["status_message"]


async def test_new_data_makes_a_new_version(api: Api) -> None:
    ann = await api.user("ann")
    flow = await create_flow(api, ann)
    assert (flow["status"], flow["version"], flow["public"]) == (1, 1, False)
    graph = copy.deepcopy(flow["data"])
    graph["nodes"][1]["params"]["system"] = "Be brief."
    patched = await api.client.patch(
        f"/api/v1/flows/{flow['id']}", json={"data": graph, "status": 2}, headers=ann
    )
    assert (patched.json()["data"]["version"], patched.json()["data"]["status"]) == (2, 2)
    versions = await api.client.get(f"/api/v1/flows/{flow['id']}/versions", headers=ann)
    assert [v["version"] for v in versions.json()["data"]] == [1, 2]


async def test_assistant_model_and_tools_are_checked(api: Api) -> None:
    ann = await api.user("ann")
    base = {"name": "a", "prompt": "p", "model": {"provider": "demo", "model": "echo"}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": {"provider": "nope"}}, "model"),
        ({"model": {"provider": "demo", "temperature": "hot"}}, "temperature"),
        ({"tools": ["teleport"]}, "teleport"),
        ({"tools": ["calculator", "calculator"]}, "twice"),
        ({"tools": ["flow:" + "0" * 32]}, "does not exist"),
    ]
    for change, words in cases:
        response = await api.client.post("/api/v1/assistant", json={**base, **change}, headers=ann)
        assert response.status_code == 422, change
        assert words in response.json()["status_message"], response.json()
    ok = await api.client.post(
        "/api/v1/assistant", json={**base, "tools": ["calculator"]}, headers=ann
    )
    assert ok.status_code == 200 and ok.json()["data"]["status"] == 1


async def test_flow_tool_must_be_usable_by_the_caller(api: Api) -> None:
    ann, bob = await api.user("ann"), await api.user("bob")
    private = await create_flow(api, ann)
    public = await create_flow(api, ann, public=True)
    base = {"name": "a", "prompt": "p", "model": {"provider": "demo"}}
    refused = await api.client.post(
        "/api/v1/assistant", json={**base, "tools": [f"flow:{private['id']}"]}, headers=bob
    )
    assert refused.status_code == 403
    allowed = await api.client.post(
        "/api/v1/assistant", json={**base, "tools": [f"flow:{public['id']}"]}, headers=bob
    )
    assert allowed.status_code == 200


async def test_deleting_a_flow_stops_its_sessions(api: Api) -> None:
    ann = await api.user("ann")
    flow = await create_flow(api, ann)
    await api.client.patch(f"/api/v1/flows/{flow['id']}", json={"status": 2}, headers=ann)
    for chat_id in ("c1", "c2"):
        body = {"flow_id": flow["id"], "chat_id": chat_id, "human_message": "hi"}
        response = await api.client.post("/api/v1/chat/chat/message", json=body, headers=ann)
        assert response.status_code == 200
    deleted = await api.client.delete(f"/api/v1/flows/{flow['id']}", headers=ann)
    assert deleted.status_code == 200 and deleted.json()["data"] is None
    assert sorted(k.chat_id for k in api.runtime.dropped) == ["c1", "c2"]
    archived = sorted(api.runtime.archive.deleted)  # their Redis frames go too (review §14)
    assert archived == [f"{flow['id']}:c1", f"{flow['id']}:c2"]
    chats = await api.client.get("/api/v1/chat/chat/list", headers=ann)
    assert chats.json()["data"] == []
    gone = await api.client.get(f"/api/v1/flows/{flow['id']}", headers=ann)
    assert gone.status_code == 404


async def test_rest_cannot_write_into_a_chat_another_user_created(api: Api) -> None:
    ann, bob = await api.user("ann"), await api.user("bob")
    flow = await create_flow(api, ann, public=True)
    await api.client.patch(f"/api/v1/flows/{flow['id']}", json={"status": 2}, headers=ann)
    body = {"flow_id": flow["id"], "chat_id": "shared-id", "human_message": "ann's"}
    assert (await api.client.post("/api/v1/chat/chat/message", json=body, headers=ann)).is_success
    intrusion = {**body, "human_message": "bob's"}
    refused = await api.client.post("/api/v1/chat/chat/message", json=intrusion, headers=bob)
    assert refused.status_code == 403
    history = await api.client.get(
        "/api/v1/chat/chat/history",
        params={"chat_id": "shared-id", "flow_id": flow["id"]},
        headers=ann,
    )
    assert [r["message"] for r in history.json()["data"]] == ["ann's"]
    deleted = await api.client.delete("/api/v1/chat/shared-id", headers=ann)
    assert deleted.status_code == 200
    assert api.runtime.archive.deleted[-1] == f"{flow['id']}:shared-id"
