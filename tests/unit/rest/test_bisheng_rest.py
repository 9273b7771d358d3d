"""Bisheng's paths over REST in process (API.md §4.5): errors on Bisheng's paths answer HTTP
200 with the business code (Bisheng's frontends read `status_code` only from a 2xx; 401 stays);
the documented paths keep meaningful statuses; an empty cursor is the first page."""

from __future__ import annotations

from tests.unit.rest.conftest import Api


async def test_errors_on_bisheng_paths_answer_http_200_with_the_code(api: Api) -> None:
    ann = await api.user("ann")
    params: dict[str, str | int] = {"chat_id": "c", "flow_id": "f", "page_size": 0}
    ours = await api.client.get("/api/v1/chat/chat/history", params=params, headers=ann)
    theirs = await api.client.get("/api/v1/chat/history", params=params, headers=ann)
    assert ours.status_code == 422 and ours.json()["status_code"] == 422
    assert theirs.status_code == 200 and theirs.json()["status_code"] == 422
    missing = await api.client.get("/api/v1/assistant/info/" + "0" * 32, headers=ann)
    assert missing.status_code == 200 and missing.json()["status_code"] == 404
    liked = await api.client.post("/api/v1/liked", json={"message_id": 9, "liked": 1}, headers=ann)
    assert liked.status_code == 200 and liked.json()["status_code"] == 404
    api.client.cookies.clear()  # the login's cookie
    unauthorized = await api.client.get("/api/v1/chat/list")  # both interceptors key on 401
    assert unauthorized.status_code == 401 and unauthorized.json()["status_code"] == 401


async def test_an_empty_cursor_is_the_first_page(api: Api) -> None:
    ann = await api.user("ann")
    for path in (
        "/api/v1/chat/history",
        "/api/v1/chat/chat/history",
        "/api/v1/session/chat/history",
    ):
        response = await api.client.get(
            path, params={"chat_id": "c", "flow_id": "f", "page_size": 40, "id": ""}, headers=ann
        )
        assert response.status_code == 200 and response.json()["data"] == [], path
