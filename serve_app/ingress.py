"""The Serve ingress deployment: one FastAPI app per replica, built after the replica's runtime."""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve
from ray.serve import Deployment

from actors.config import RuntimeConfig
from actors.ray.metrics import RayMetrics
from actors.ray.registry import Runtime
from serve_app.api import build_api
from serve_app.observability import metrics
from serve_app.settings import ApiConfig

# An open WebSocket holds one of these slots for its whole life (Serve's default is 5).
MAX_ONGOING_REQUESTS = 10_000


def apply_ws_deflate(enabled: bool) -> None:
    """Turn per-message deflate of this process's uvicorn WebSockets on or off.

    Serve builds the replica's `uvicorn.Config` itself and exposes no WebSocket options, and
    uvicorn's protocols read `config.ws_per_message_deflate` at every handshake; a class-level
    property makes every Config of this process (made before or after) answer `enabled`.
    The replica process serves only this app, so nothing else is affected."""
    import uvicorn.config

    uvicorn.config.Config.ws_per_message_deflate = property(  # type: ignore[assignment]
        lambda _self: enabled, lambda _self, _value: None
    )


class ChatIngress:
    """Stateless ingress: authenticates, validates and routes to session and storage actors."""

    def __init__(self, config: RuntimeConfig, api_config: ApiConfig | None = None) -> None:
        self.runtime = Runtime(config)
        metrics.use_cluster_metrics(RayMetrics())  # this replica's share of the cluster metrics
        self.api_config = api_config or ApiConfig()
        apply_ws_deflate(self.api_config.ws_deflate)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_api(self.runtime, self.api_config)


# The one place Serve options are applied to the plain class.
chat_ingress: Deployment = serve.deployment(
    name="ChatIngress",
    max_ongoing_requests=MAX_ONGOING_REQUESTS,
    ray_actor_options={"num_cpus": 0},
    health_check_period_s=10,
)(serve.ingress()(ChatIngress))
