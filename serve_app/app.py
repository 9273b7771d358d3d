"""Serve application builders: `build_app(settings)` for `raychat serve`, `app` for
`serve run serve_app.app:app`, and `app_builder` for `serve deploy serve_config.yaml`."""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from serve_app.ingress import chat_ingress
from serve_app.settings import Settings


def build_app(settings: Settings) -> Application:
    """Bind the ingress with the frozen runtime configuration."""
    return chat_ingress.options(
        num_replicas=settings.ingress_replicas,
        max_ongoing_requests=settings.ingress_max_ongoing_requests,
    ).bind(settings.runtime_config(), settings.api_config())


def app_builder(args: dict[str, Any]) -> Application:
    """For `serve_config.yaml`: `args` override environment settings (same names, lower case)."""
    return build_app(Settings(**args))


app = build_app(Settings())
