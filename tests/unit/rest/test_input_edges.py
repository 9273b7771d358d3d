"""REST input edges in process (API.md §6a, review §5/§8/§15): the 1 MiB body limit (413 before
the body is read whole), ids out of range (422, not 500), NUL and lone surrogates anywhere in a
body (422), and deep JSON (422)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from serve_app.settings import ApiConfig
from tests.conftest import demo_graph
from tests.unit.rest.conftest import Api, make_api

MIB = 1 << 20
BIG = 2**70
JSON = {"content-type": "application/json"}
NUL = "\x00"
MESSAGES = "/api/v1/chat/chat/message"


@pytest.fixture
async def default_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The REST app with the default ApiConfig (the 1 MiB body limit)."""
    async for made in make_api(tmp_path, ApiConfig()):
        yield made


async def test_a_declared_body_over_1_mib_is_refused_before_it_is_read(default_api: Api) -> None:
    ann = await default_api.user("ann")
    body = b'{"name": "big", "data": {"x": "' + b"x" * MIB + b'"}}'
    response = await default_api.client.post("/api/v1/flows", content=body, headers={**ann, **JSON})
    assert response.status_code == 413
    assert response.json()["status_code"] == 413
    # Unauthenticated too: the limit comes before authentication and parsing.
    login = await default_api.client.post("/api/v1/user/login", content=body, headers=JSON)
    assert login.status_code == 413


async def test_a_chunked_body_is_cut_off_once_it_passes_1_mib(default_api: Api) -> None:
    ann = await default_api.user("ann")
    pulled = 0
    chunks = 64  # 64 x 64 KiB = 4 MiB offered

    async def stream() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(chunks):
            pulled += 1
            yield b" " * (64 * 1024)

    response = await default_api.client.post(
        "/api/v1/flows", content=stream(), headers={**ann, **JSON}
    )
    assert response.status_code == 413 and response.json()["status_code"] == 413
    assert pulled <= 17 < chunks  # stopped just past 1 MiB, never read whole


async def test_a_body_under_the_limit_passes(default_api: Api) -> None:
    ann = await default_api.user("ann")
    graph = demo_graph()
    graph["nodes"][1]["params"]["template"] = "{input}" + " " * (MIB // 2)
    ok = await default_api.client.post(
        "/api/v1/flows", json={"name": "half", "data": graph}, headers=ann
    )
    assert ok.status_code != 413


async def test_limit_zero_turns_the_body_limit_off(tmp_path: Path) -> None:
    async for api in make_api(tmp_path, ApiConfig(max_body_bytes=0)):
        body = b'{"user_name": "' + b"x" * (2 * MIB) + b'", "password": "p"}'
        response = await api.client.post("/api/v1/user/login", content=body, headers=JSON)
        assert response.status_code == 422  # parsed and validated (name too long), not 413


async def _message_id(api: Api, headers: dict[str, str]) -> tuple[str, int]:
    created = await api.client.post(
        "/api/v1/flows", json={"name": "f", "data": demo_graph()}, headers=headers
    )
    flow_id = created.json()["data"]["id"]
    await api.client.patch(f"/api/v1/flows/{flow_id}", json={"status": 2}, headers=headers)
    body = {"flow_id": flow_id, "chat_id": "c1", "human_message": "q"}
    posted = await api.client.post("/api/v1/chat/chat/message", json=body, headers=headers)
    assert posted.status_code == 200, posted.text
    return flow_id, int(posted.json()["data"][0]["id"])


def _huge_id_requests(flow_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    cursor = {"params": {"chat_id": "c1", "flow_id": flow_id, "id": BIG}}
    return [
        ("PUT", f"/api/v1/chat/chat/message/{BIG}", {"json": {"message": "x"}}),
        ("DELETE", f"/api/v1/chat/chat/message/{BIG}", {}),
        ("POST", "/api/v1/chat/liked", {"json": {"message_id": BIG, "liked": 1}}),
        ("POST", "/api/v1/chat/copied", {"json": {"message_id": BIG}}),
        ("POST", "/api/v1/chat/comment", {"json": {"message_id": BIG, "comment": "x"}}),
        (
            "POST",
            "/api/v1/session/chat/message/telemetry",
            {"json": {"message_id": BIG, "operation_type": "like"}},
        ),
        ("GET", "/api/v1/chat/chat/history", cursor),
        ("GET", "/api/v1/session/chat/history", cursor),
        ("GET", "/api/v1/audit/session", {"params": {"user_id": BIG}}),
        ("GET", "/api/v1/audit/log", {"params": {"user_id": BIG}}),
    ]  # fmt: skip


async def test_ids_beyond_bigint_are_422_on_every_endpoint(api: Api) -> None:
    ann = await api.user("ann")  # the first user: admin, so the audit routes answer too
    flow_id, _ = await _message_id(api, ann)
    for method, url, kwargs in _huge_id_requests(flow_id):
        response = await api.client.request(method, url, headers=ann, **kwargs)
        assert response.status_code == 422, (method, url, response.text)
        assert response.json()["status_code"] == 422


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/v1/user/register", {"user_name": "a\x00b", "password": "secret-pw"}),
        ("POST", "/api/v1/flows", {"name": "n\x00", "data": demo_graph()}),
        ("POST", "/api/v1/flows", {"name": "n", "data": {**demo_graph(), "note": "\x00"}}),
        ("POST", "/api/v1/flows", {"name": "n", "data": {**demo_graph(), "k\x00": 1}}),
        ("POST", "/api/v1/assistant", {"name": "a", "prompt": "p\x00", "model": {}}),
        ("POST", "/api/v1/assistant", {"name": "a", "prompt": "p", "model": {"x": ["\x00"]}}),
        ("POST", MESSAGES, {"flow_id": "f", "chat_id": "c", "human_message": NUL}),
        ("POST", "/api/v1/chat/comment", {"message_id": 1, "comment": "\x00"}),
        ("POST", "/api/v1/chat/chat/conversation/rename", {"conversationId": "c", "name": "\x00"}),
    ],
)  # fmt: skip
async def test_nul_anywhere_in_a_body_is_422(
    api: Api, method: str, url: str, body: dict[str, Any]
) -> None:
    ann = await api.user("ann")
    response = await api.client.request(method, url, json=body, headers=ann)
    assert response.status_code == 422, response.text
    assert "NUL" in response.text and "\x00" not in response.json()["status_message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "a\\ud800", "data": {}}',
        b'{"name": "a", "data": {"nodes": [{"id": "\\udfff"}], "edges": []}}',
        b'{"name": "a", "data": {"\\ud800": 1}}',
    ],
)
async def test_lone_surrogates_anywhere_in_a_body_are_422(api: Api, raw: bytes) -> None:
    ann = await api.user("ann")
    response = await api.client.post("/api/v1/flows", content=raw, headers={**ann, **JSON})
    assert response.status_code == 422, response.text


async def test_nul_in_query_and_path_strings_is_422(api: Api) -> None:
    ann = await api.user("ann")
    for url, params in [
        ("/api/v1/chat/chat/history", {"chat_id": "c\x00", "flow_id": "f"}),
        ("/api/v1/chat/chat/online", {"keyword": "k\x00"}),
        ("/api/v1/flows/a%00b", {}),
    ]:
        response = await api.client.get(url, params=params, headers=ann)
        assert response.status_code == 422, (url, response.text)


async def test_deeply_nested_json_is_422_not_500(api: Api) -> None:
    ann = await api.user("ann")
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"d": deep}
    response = await api.client.post(
        "/api/v1/flows", json={"name": "deep", "data": {**demo_graph(), "x": deep}}, headers=ann
    )
    assert response.status_code == 422 and "nested deeper" in response.text


async def test_plain_text_still_round_trips(api: Api) -> None:
    ann = await api.user("ann")
    flow_id, message_id = await _message_id(api, ann)
    text = "emoji 😀, tab\t, newline\n, accents é"
    ok = await api.client.put(
        f"/api/v1/chat/chat/message/{message_id}", json={"message": text}, headers=ann
    )
    assert ok.status_code == 200, ok.text
    history = await api.client.get(
        "/api/v1/chat/chat/history", params={"chat_id": "c1", "flow_id": flow_id}, headers=ann
    )
    assert history.json()["data"][0]["message"] == text


@pytest.mark.parametrize("edges", [["in->model"], [{"source": 1, "target": "x"}], "in->model"])
async def test_malformed_graph_edges_are_422_not_500(api: Api, edges: Any) -> None:
    ann = await api.user("ann")
    graph = {**demo_graph(), "edges": edges}
    response = await api.client.post(
        "/api/v1/flows", json={"name": "g", "data": graph}, headers=ann
    )
    assert response.status_code == 422, response.text


async def test_graph_size_bounds_come_from_the_runtime_config(api: Api) -> None:
    ann = await api.user("ann")
    graph = demo_graph()
    graph["nodes"] += [{"id": f"o{i}", "type": "Output"} for i in range(5)]
    api.runtime.config = api.runtime.config.model_copy(update={"flow_max_nodes": 8})
    refused = await api.client.post("/api/v1/flows", json={"name": "g", "data": graph}, headers=ann)
    assert refused.status_code == 422 and "at most 8 nodes" in refused.text
    api.runtime.config = api.runtime.config.model_copy(update={"flow_max_nodes": 0})  # 0 = off
    ok = await api.client.post("/api/v1/flows", json={"name": "g", "data": graph}, headers=ann)
    assert ok.status_code == 200, ok.text
