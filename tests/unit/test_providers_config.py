"""Operator-configured providers (`RAYCHAT_PROVIDERS`) and what a flow's `ChatModel` may set.

A flow names a provider; where the server connects and which key it sends are the operator's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from actors.config import ProviderConfig
from actors.errors import FlowInvalid
from actors.flows.chat_models import (
    MAX_RETRIES,
    DemoChatModel,
    build_chat_model,
    check_chat_model,
    choose_model,
)
from actors.flows.compiler import compile_flow
from serve_app.settings import Settings
from tests.conftest import demo_graph

PROVIDERS = {
    "local": {
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "RAYCHAT_TEST_PROVIDER_KEY",
        "models": ["small", "large"],
        "default_model": "small",
    },
    "lab": {
        "kind": "ollama",
        "base_url": "http://127.0.0.1:9",
        "models": ["*"],
        "default_model": "llama3",
    },
}


def providers() -> dict[str, ProviderConfig]:
    return {name: ProviderConfig.model_validate(spec) for name, spec in PROVIDERS.items()}


# -- parsing -------------------------------------------------------------------------------


def test_providers_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYCHAT_PROVIDERS", json.dumps(PROVIDERS))
    config = Settings().runtime_config()
    assert config.sessions.providers == providers()
    assert config.sessions.providers["local"].api_key_env == "RAYCHAT_TEST_PROVIDER_KEY"


def test_providers_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps(PROVIDERS), encoding="utf-8")
    monkeypatch.setenv("RAYCHAT_PROVIDERS", str(path))
    assert Settings().providers == providers()


def test_providers_from_serve_config_args() -> None:
    # `serve_config.yaml` args arrive as a mapping (app_builder -> Settings(**args)).
    args: dict[str, Any] = {"providers": PROVIDERS}
    assert Settings(**args).runtime_config().sessions.providers == providers()


def test_no_providers_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAYCHAT_PROVIDERS", raising=False)
    assert Settings().runtime_config().sessions.providers == {}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("/nonexistent/providers.json", "cannot read"),
        (json.dumps({"demo": {"kind": "openai", "models": ["a"]}}), "reserved"),
        (json.dumps({"x": {"kind": "other", "models": ["a"]}}), "kind"),
        (json.dumps({"x": {"kind": "openai", "models": []}}), "models"),
        (json.dumps({"x": {"kind": "openai"}}), "models"),
        (
            json.dumps({"x": {"kind": "ollama", "models": ["a"], "api_key_env": "K"}}),
            "for kind .openai. only",
        ),
        (json.dumps({"x": {"kind": "openai", "models": ["a"], "default_model": "b"}}), "not in"),
        (json.dumps({"x": {"kind": "openai", "models": ["*"]}}), "default_model"),
        (json.dumps({"x": {"kind": "openai", "models": ["a"], "key": "sk-1"}}), "key"),
    ],
)
def test_bad_provider_config_fails_at_startup(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    monkeypatch.setenv("RAYCHAT_PROVIDERS", value)
    with pytest.raises(ValidationError, match=reason):
        Settings()


# -- what a flow may set ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["base_url", "api_key_env", "api_key", "openai_api_base", "headers"]
)
def test_host_and_secret_params_are_the_operators(key: str) -> None:
    params = {"provider": "local", "model": "small", key: "http://attacker.example/v1"}
    with pytest.raises(FlowInvalid) as caught:
        build_chat_model(params, "model", providers())
    assert caught.value.message == (
        f"node model: {key!r} is set by the operator (RAYCHAT_PROVIDERS), not by a flow"
    )
    assert caught.value.data == {"node_id": "model"}


@pytest.mark.parametrize("provider", ["demo", "local", "lab"])
def test_unknown_params_are_refused(provider: str) -> None:
    with pytest.raises(FlowInvalid, match="unknown model param 'timeout'"):
        build_chat_model({"provider": provider, "timeout": 1}, "m", providers())


def test_demo_only_params_are_refused_on_a_real_provider() -> None:
    with pytest.raises(FlowInvalid, match="unknown model param 'script' for kind 'openai'"):
        build_chat_model({"provider": "local", "script": ["hi"]}, "m", providers())


def test_unknown_provider_is_refused_and_the_configured_ones_named() -> None:
    with pytest.raises(
        FlowInvalid, match=r"unknown model provider 'openai' \(configured: demo, lab, local\)"
    ):
        build_chat_model({"provider": "openai"}, "m", providers())
    # Without operator providers only `demo` exists: a kind name is not a provider.
    with pytest.raises(FlowInvalid, match="unknown model provider 'ollama'"):
        build_chat_model({"provider": "ollama", "model": "llama3"}, "m")


def test_model_must_be_allowed_on_its_provider() -> None:
    with pytest.raises(
        FlowInvalid,
        match=r"model 'gpt-5' is not allowed on provider 'local' \(allowed: small, large\)",
    ):
        build_chat_model({"provider": "local", "model": "gpt-5"}, "m", providers())
    assert choose_model({"provider": "local"}, "m", providers()).model == "small"
    assert (
        choose_model({"provider": "lab", "model": "anything"}, "m", providers()).model == "anything"
    )
    assert choose_model({"provider": "lab"}, "m", providers()).model == "llama3"


def test_max_retries_is_bounded() -> None:
    with pytest.raises(FlowInvalid, match=f"'max_retries' must be at most {MAX_RETRIES}"):
        build_chat_model({"provider": "local", "max_retries": MAX_RETRIES + 1}, "m", providers())


def test_the_model_gets_the_operators_url_and_key_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYCHAT_TEST_PROVIDER_KEY", "sk-operator")
    monkeypatch.setenv("RAYCHAT_JWT_SECRET", "the-jwt-secret-" + "s" * 32)
    model: Any = build_chat_model({"provider": "local", "model": "large"}, "m", providers())
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
    assert isinstance(model.openai_api_key, SecretStr)
    assert model.openai_api_key.get_secret_value() == "sk-operator"
    assert model.model_name == "large"


def test_a_provider_without_a_key_variable_sends_a_placeholder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not OPENAI_API_KEY from the environment: only the variable the operator named is read.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-this-provider")
    spec = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}
    model: Any = build_chat_model(
        {"provider": "keyless"}, "m", {"keyless": ProviderConfig.model_validate(spec)}
    )
    assert model.openai_api_key.get_secret_value() == "not-set"


def test_ollama_model_gets_the_operators_url() -> None:
    model: Any = build_chat_model(
        {"provider": "lab", "model": "qwen", "temperature": 0.5}, "m", providers()
    )
    assert (model.base_url, model.model, model.temperature) == ("http://127.0.0.1:9", "qwen", 0.5)


def test_validation_in_the_ingress_reads_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYCHAT_TEST_PROVIDER_KEY", "sk-operator")
    stand_in = check_chat_model({"provider": "local", "model": "small"}, "m", providers())
    assert isinstance(stand_in, DemoChatModel)
    with pytest.raises(FlowInvalid, match="'base_url' is set by the operator"):
        check_chat_model({"provider": "local", "base_url": "http://x"}, "m", providers())


def test_a_stored_graph_with_base_url_fails_to_compile_with_a_clear_message() -> None:
    # Flows saved before providers existed: they fail when a session compiles them, not silently.
    graph = demo_graph()
    graph["nodes"][3]["params"] = {"provider": "local", "base_url": "http://attacker.example"}
    with pytest.raises(FlowInvalid, match="node model: 'base_url' is set by the operator"):
        compile_flow(graph, providers())
