"""The HTTP edge in process: rate limits, envelopes for routing errors, request metrics."""

from __future__ import annotations

from tests.conftest import demo_graph
from tests.unit.rest.conftest import Api


async def test_message_inserts_are_rate_limited_with_retry_after(api: Api) -> None:
    ann = await api.user("ann")
    created = await api.client.post(
        "/api/v1/flows", json={"name": "f", "data": demo_graph()}, headers=ann
    )
    flow_id = created.json()["data"]["id"]
    await api.client.patch(f"/api/v1/flows/{flow_id}", json={"status": 2}, headers=ann)
    body = {"flow_id": flow_id, "chat_id": "c", "human_message": "q"}
    for _ in range(5):  # the fixture allows 5 asks per minute
        ok = await api.client.post("/api/v1/chat/chat/message", json=body, headers=ann)
        assert ok.status_code == 200
    limited = await api.client.post("/api/v1/chat/chat/message", json=body, headers=ann)
    assert limited.status_code == 429 and limited.json()["status_code"] == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and limited.json()["data"]["retry_after"] == retry_after
    history = await api.client.get(
        "/api/v1/chat/chat/history", params={"chat_id": "c", "flow_id": flow_id}, headers=ann
    )
    assert len(history.json()["data"]) == 5


async def test_routing_and_validation_errors_use_the_envelope(api: Api) -> None:
    missing = await api.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"status_code": 404, "status_message": "Not Found", "data": None}
    ann = await api.user("ann")
    bad = await api.client.get("/api/v1/chat/chat/list", params={"limit": 101}, headers=ann)
    assert bad.status_code == 422
    (error,) = bad.json()["data"]["errors"]
    assert error["loc"] == ["query", "limit"]


async def test_requests_are_counted_by_route_template(api: Api) -> None:
    ann = await api.user("ann")
    for flow_id in ("a" * 32, "b" * 32):
        await api.client.get(f"/api/v1/flows/{flow_id}", headers=ann)
    text = (await api.client.get("/metrics")).text
    line = 'raychat_http_requests_total{method="GET",route="/api/v1/flows/{flow_id}",status="404"}'
    assert any(row.startswith(line) and float(row.split()[-1]) >= 2 for row in text.splitlines())
    assert 'raychat_live_sessions{host="1"} 4.0' in text
    assert "raychat_storage_batch_rows" in text
