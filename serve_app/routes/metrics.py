"""`GET /metrics` (public): Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from serve_app.deps import RuntimeDep
from serve_app.observability.metrics import exposition, refresh_actor_gauges

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
async def get_metrics(runtime: RuntimeDep) -> Response:
    """*Public.* This replica's counters plus actor gauges read at scrape time."""
    await refresh_actor_gauges(runtime)
    body, content_type = exposition()
    return Response(body, media_type=content_type)
