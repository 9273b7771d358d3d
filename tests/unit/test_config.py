"""Settings, URL mapping and the deployment files are valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from serve_app.settings import Settings
from storage.db import to_async_url

ROOT = Path(__file__).resolve().parents[2]


def test_prod_profile_refuses_the_dev_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(profile="prod")
    assert Settings(profile="prod", jwt_secret="x" * 40).profile == "prod"


def test_sqlite_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = Settings(database_url="sqlite:///chat.db").runtime_config().storage.database_url
    assert url == f"sqlite:///{tmp_path / 'chat.db'}"


def test_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYCHAT_PORT", "9001")
    monkeypatch.setenv("RAYCHAT_SESSION_HOSTS", "3")
    settings = Settings()
    assert settings.port == 9001 and settings.runtime_config().sessions.hosts == 3


@pytest.mark.parametrize(
    ("plain", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("mysql://u:p@h/db", "mysql+aiomysql://u:p@h/db?charset=utf8mb4"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_get_async_drivers(plain: str, driver: str) -> None:
    assert to_async_url(plain) == driver


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        to_async_url("oracle://u@h/db")


def test_cluster_yaml_is_a_valid_launcher_config() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    validate_config(config)
    commands = " ".join(config["head_start_ray_commands"])
    assert (
        "RAY_SERVE_ENABLE_HA_PROXY=1" in commands and "serve deploy serve_config.yaml" in commands
    )
    assert "--port=6380" in commands  # never Redis's 6379


def test_serve_config_is_valid_and_its_builder_imports() -> None:
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(
        yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    )
    app = schema.applications[0]
    module, attr = app.import_path.split(":")
    builder = getattr(__import__(module, fromlist=[attr]), attr)
    assert callable(builder)
    Settings(**{**app.args, "jwt_secret": "y" * 40})  # its args are valid settings


def test_issue8_limits_have_environment_twins_and_reach_the_actors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings().runtime_config()
    assert (defaults.ws_max_chats, defaults.ws_frames_per_second) == (32, 20.0)
    assert defaults.sessions.max_sessions_per_user == 100
    assert defaults.sessions.turn_timeout_s == 300.0
    for name, value in {
        "WS_MAX_CHATS": "0",
        "RATE_FRAMES_PER_SECOND": "0",
        "MAX_SESSIONS_PER_USER": "0",
        "TURN_TIMEOUT_S": "0",
        "FRAME_LOG_MAX_FRAMES": "0",
        "FRAME_LOG_MAX_BYTES": "0",
    }.items():
        monkeypatch.setenv(f"RAYCHAT_{name}", value)
    config = Settings().runtime_config()
    assert (config.ws_max_chats, config.ws_frames_per_second) == (0, 0.0)
    sessions = config.sessions
    assert (sessions.max_sessions_per_user, sessions.turn_timeout_s) == (0, 0.0)
    assert (sessions.frame_log_max_frames, sessions.frame_log_max_bytes) == (0, 0)
