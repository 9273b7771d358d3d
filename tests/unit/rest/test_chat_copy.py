"""Copying a chat over REST (API.md §3): the service picks the new chat id (so a retried
storage call copies once), the copy holds the caller's messages, a missing chat is 404."""

from __future__ import annotations

from tests.unit.rest.conftest import Api
from tests.unit.rest.test_apps import create_flow


async def test_a_copy_is_a_new_chat_with_the_messages_and_a_missing_chat_is_404(api: Api) -> None:
    ann = await api.user("ann")
    flow = await create_flow(api, ann)
    await api.client.patch(f"/api/v1/flows/{flow['id']}", json={"status": 2}, headers=ann)
    body = {"flow_id": flow["id"], "chat_id": "src", "human_message": "hi"}
    assert (await api.client.post("/api/v1/chat/chat/message", json=body, headers=ann)).is_success
    copy = await api.client.post(
        "/api/v1/chat/chat/conversation/copy", json={"conversationId": "src"}, headers=ann
    )
    assert copy.status_code == 200, copy.text
    new_id = copy.json()["data"]["chat_id"]
    assert new_id != "src" and len(new_id) == 32
    history = await api.client.get(
        "/api/v1/chat/chat/history", params={"chat_id": new_id, "flow_id": flow["id"]}, headers=ann
    )
    assert [r["message"] for r in history.json()["data"]] == ["hi"]
    missing = await api.client.post(
        "/api/v1/chat/chat/conversation/copy", json={"conversationId": "nope"}, headers=ann
    )
    assert missing.status_code == 404
