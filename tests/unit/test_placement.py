"""Placement profiles (`RAYCHAT_PLACEMENTS`): a graph names a profile; Ray resources are the
operator's. No Ray here; the cap and the start timeout run on real Ray in
tests/integration/test_dedicated.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from actors.config import PlacementProfile
from actors.errors import FlowInvalid
from actors.ray.registry import dedicated_name, profile_in_name
from actors.sessions.placement import check_placement, placement_of, ray_options, stored_placement
from actors.sessions.session import SessionKey
from serve_app.settings import Settings
from tests.conftest import demo_graph

PLACEMENTS = {
    "gpu": {"resources": {"CPU": 1, "GPU": 1, "accel": 2}, "max_actors": 2},
    "small": {"resources": {"CPU": 0.5}},
}


def placements() -> dict[str, PlacementProfile]:
    return {name: PlacementProfile.model_validate(p) for name, p in PLACEMENTS.items()}


def dedicated(**extra: Any) -> dict[str, Any]:
    return {**demo_graph(), "placement": "dedicated", **extra}


def test_a_graph_names_a_profile() -> None:
    assert placement_of(dedicated(profile="gpu")) == "gpu"
    assert placement_of(demo_graph()) is None
    check_placement(dedicated(profile="gpu"), placements())
    check_placement(demo_graph(), {})


@pytest.mark.parametrize("key", ["resources", "num_gpus", "num_cpus", "memory"])
def test_raw_ray_resources_are_refused(key: str) -> None:
    with pytest.raises(FlowInvalid, match=f"'{key}' is set by the operator .RAYCHAT_PLACEMENTS."):
        placement_of(dedicated(profile="gpu", **{key: {"GPU": 8}}))


@pytest.mark.parametrize(
    ("graph", "reason"),
    [
        (dedicated(), "needs a 'profile'"),
        (dedicated(profile=""), "needs a 'profile'"),
        (dedicated(profile=3), "needs a 'profile'"),
        ({**demo_graph(), "placement": "somewhere"}, "'shared' or 'dedicated'"),
        ({**demo_graph(), "profile": "gpu"}, "needs placement 'dedicated'"),
    ],
)
def test_malformed_placements_are_refused(graph: dict[str, Any], reason: str) -> None:
    with pytest.raises(FlowInvalid, match=reason):
        check_placement(graph, placements())


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(
        FlowInvalid, match=r"unknown placement profile 'huge' \(configured: gpu, small\)"
    ):
        check_placement(dedicated(profile="huge"), placements())
    with pytest.raises(FlowInvalid, match=r"\(configured: none\)"):
        check_placement(dedicated(profile="gpu"), {})


def test_stored_graph_with_raw_resources_places_nowhere_dedicated() -> None:
    assert stored_placement(dedicated(resources={"GPU": 1})) is None
    assert stored_placement(dedicated(profile="gpu")) == "gpu"


def test_ray_options_come_from_the_profile() -> None:
    assert ray_options(placements()["gpu"]) == {
        "num_cpus": 1.0,
        "num_gpus": 1.0,
        "resources": {"accel": 2.0},
    }
    assert ray_options(placements()["small"]) == {"num_cpus": 0.5, "num_gpus": 0.0}


@pytest.mark.parametrize("profile", ["gpu", "a-b", "x-1-2"])
def test_the_actor_name_carries_its_profile(profile: str) -> None:
    name = dedicated_name(SessionKey("flow", "chat", dedicated=profile))
    assert profile_in_name(name) == profile
    assert profile_in_name("raychat-session-host-0") is None
    assert profile_in_name("raychat-storage") is None


def test_placements_from_json_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAYCHAT_PLACEMENTS", json.dumps(PLACEMENTS))
    config = Settings().runtime_config()
    assert config.placements == placements()
    assert config.placements["small"].max_actors == 4  # the default cap
    path = tmp_path / "placements.json"
    path.write_text(json.dumps(PLACEMENTS), encoding="utf-8")
    monkeypatch.setenv("RAYCHAT_PLACEMENTS", str(path))
    assert Settings().placements == placements()


@pytest.mark.parametrize(
    "spec",
    [
        {"p": {"resources": {"GPU": -1}}},
        {"p": {"resources": {"GPU": "many"}}},
        {"p": {"max_actors": -1}},
        {"p": {"resources": {}, "priority": 1}},
        {"a b": {}},
        {"": {}},
    ],
)
def test_bad_placement_profiles_fail_at_startup(
    monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any]
) -> None:
    monkeypatch.setenv("RAYCHAT_PLACEMENTS", json.dumps(spec))
    with pytest.raises(ValidationError):
        Settings()


def test_start_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().runtime_config().dedicated_start_timeout_s == 20.0
    monkeypatch.setenv("RAYCHAT_DEDICATED_START_TIMEOUT_S", "0")
    assert Settings().runtime_config().dedicated_start_timeout_s == 0.0  # 0: no limit
