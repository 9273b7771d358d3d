"""Flows and assistants are validated against the operator's providers and placement profiles
at create/update time (422), in process with the real FastAPI app."""

from __future__ import annotations

from typing import Any

import pytest

from actors.config import PlacementProfile, ProviderConfig
from tests.conftest import demo_graph
from tests.unit.rest.conftest import Api


@pytest.fixture
def operator_api(api: Api) -> Api:
    """`api` whose runtime config has one provider (`local`) and one profile (`small`)."""
    local = ProviderConfig(kind="openai", base_url="http://127.0.0.1:9/v1", models=("small",))
    sessions = api.runtime.config.sessions.model_copy(update={"providers": {"local": local}})
    api.runtime.config = api.runtime.config.model_copy(
        update={"sessions": sessions, "placements": {"small": PlacementProfile(max_actors=1)}}
    )
    return api


def graph_on(**params: Any) -> dict[str, Any]:
    graph = demo_graph()
    graph["nodes"][3]["params"] = params
    return graph


async def post_flow(api: Api, headers: dict[str, str], graph: dict[str, Any]) -> Any:
    return await api.client.post(
        "/api/v1/flows", json={"name": "f", "data": graph}, headers=headers
    )


async def test_a_configured_provider_is_accepted(operator_api: Api) -> None:
    ann = await operator_api.user("ann")
    response = await post_flow(operator_api, ann, graph_on(provider="local", model="small"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"provider": "openai", "model": "gpt-4o-mini"}, "unknown model provider 'openai'"),
        ({"provider": "local", "model": "big"}, "'big' is not allowed on provider 'local'"),
        (
            {"provider": "local", "base_url": "http://attacker.example/v1"},
            "'base_url' is set by the operator (RAYCHAT_PROVIDERS), not by a flow",
        ),
        (
            {"provider": "local", "api_key_env": "RAYCHAT_JWT_SECRET"},
            "'api_key_env' is set by the operator (RAYCHAT_PROVIDERS), not by a flow",
        ),
        ({"provider": "local", "api_key": "sk-1"}, "'api_key' is set by the operator"),
        ({"provider": "local", "seed": 1}, "unknown model param 'seed'"),
    ],
)
async def test_flows_may_not_choose_hosts_or_secrets(
    operator_api: Api, params: dict[str, Any], reason: str
) -> None:
    ann = await operator_api.user("ann")
    response = await post_flow(operator_api, ann, graph_on(**params))
    assert response.status_code == 422
    body = response.json()
    assert reason in body["status_message"] and body["data"]["node_id"] == "model"
    # PATCHing a good flow to such a graph is refused the same way.
    good = await post_flow(operator_api, ann, demo_graph())
    patched = await operator_api.client.patch(
        f"/api/v1/flows/{good.json()['data']['id']}", json={"data": graph_on(**params)}, headers=ann
    )
    assert patched.status_code == 422 and reason in patched.json()["status_message"]


async def test_assistant_models_are_checked_against_the_providers(operator_api: Api) -> None:
    ann = await operator_api.user("ann")
    base = {"name": "a", "prompt": "p", "tools": []}
    good = {**base, "model": {"provider": "local", "model": "small"}}
    response = await operator_api.client.post("/api/v1/assistant", json=good, headers=ann)
    assert response.status_code == 200, response.text
    for model, reason in [
        ({"provider": "local", "base_url": "http://x"}, "model: 'base_url' is set by the operator"),
        ({"provider": "elsewhere"}, "model: unknown model provider 'elsewhere'"),
    ]:
        bad = await operator_api.client.post(
            "/api/v1/assistant", json={**base, "model": model}, headers=ann
        )
        assert bad.status_code == 422 and reason in bad.json()["status_message"]


async def test_dedicated_placement_names_a_profile(operator_api: Api) -> None:
    ann = await operator_api.user("ann")
    ok = await post_flow(
        operator_api, ann, {**demo_graph(), "placement": "dedicated", "profile": "small"}
    )
    assert ok.status_code == 200, ok.text
    for graph, reason in [
        (
            {**demo_graph(), "placement": "dedicated", "profile": "big"},
            "unknown placement profile 'big'",
        ),
        (
            {**demo_graph(), "placement": "dedicated", "resources": {"GPU": 8}},
            "'resources' is set by the operator (RAYCHAT_PLACEMENTS)",
        ),
    ]:
        response = await post_flow(operator_api, ann, graph)
        assert response.status_code == 422 and reason in response.json()["status_message"]
