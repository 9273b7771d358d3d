"""`serve_config.yaml` read with Serve's own schema: the ingress autoscales with targets sized for
long-lived sockets (docs/deploy.md "Serve autoscaling"), and the file names only real things."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ray.serve.schema import DeploymentSchema, ServeApplicationSchema, ServeDeploySchema

from serve_app.ingress import MAX_ONGOING_REQUESTS, chat_ingress
from serve_app.settings import Settings

SERVE_CONFIG = Path(__file__).resolve().parents[2] / "serve_config.yaml"


def raychat_app() -> ServeApplicationSchema:
    config = ServeDeploySchema.model_validate(yaml.safe_load(SERVE_CONFIG.read_text()))
    (app,) = config.applications
    assert app.name == "raychat"
    return app


def ingress_deployment() -> DeploymentSchema:
    (deployment,) = raychat_app().deployments
    return deployment


def test_the_ingress_autoscales_on_open_sockets() -> None:
    deployment = ingress_deployment()
    # The override must name the deployment the code binds, or `serve deploy` refuses the app.
    assert deployment.name == chat_ingress.name
    assert deployment.num_replicas == "auto"
    autoscaling: dict[str, Any] = deployment.autoscaling_config  # type: ignore[assignment]
    assert autoscaling == {
        "min_replicas": 2,
        "max_replicas": 8,
        "target_ongoing_requests": 1000,
        "upscale_delay_s": 30,
        "downscale_delay_s": 1800,
    }
    # Serve never scales up while replicas refuse requests below the target.
    assert deployment.max_ongoing_requests == MAX_ONGOING_REQUESTS
    assert autoscaling["target_ongoing_requests"] < MAX_ONGOING_REQUESTS
    # Shrinking closes the sockets of the removed replica: slower down than up.
    assert autoscaling["downscale_delay_s"] > autoscaling["upscale_delay_s"]


def test_args_are_settings_and_leave_the_replica_count_to_serve() -> None:
    args: dict[str, Any] = raychat_app().args
    # Settings ignores unknown names, so a misspelt argument would vanish silently.
    assert set(args) <= set(Settings.model_fields)
    # The `deployments` entry decides the ingress's replicas; a second count here would be dead.
    assert "ingress_replicas" not in args
    settings = Settings(**args, jwt_secret="s" * 32)
    assert settings.profile == "prod"


def test_ingress_cap_setting_defaults_to_the_deployments_cap() -> None:
    # `raychat serve` applies RAYCHAT_INGRESS_MAX_ONGOING_REQUESTS; its default is the code's.
    assert Settings().ingress_max_ongoing_requests == MAX_ONGOING_REQUESTS
