"""The admin monitor API the dashboard polls (docs/api.md, "Monitor"): `GET
/api/v1/monitor/overview` (hosts per node and their sessions, activity rates, storage, errors,
the Ray dashboard link) and `GET /api/v1/monitor/actors` (counts and actor names). Admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from serve_app.deps import AdminUser, RuntimeDep
from serve_app.errors import envelope
from serve_app.services import monitor

router = APIRouter(prefix="/api/v1/monitor", tags=["monitor"])
SessionsPerHost = Annotated[
    int, Query(ge=0, le=1000, description="sessions listed per host, most recently used first")
]


@router.get("/overview")
async def monitor_overview(
    runtime: RuntimeDep, _admin: AdminUser, sessions_per_host: SessionsPerHost = 100
) -> dict[str, Any]:
    """Live session hosts (grouped per node) with their sessions (app, user, state, turns, idle
    time), turns/s and tokens/s per 10 s over the last 10 minutes, storage batch sizes, flush
    latency and queue depth, recent errors, and the Ray dashboard's URL when it runs."""
    return envelope(await monitor.overview(runtime, sessions_per_host))


@router.get("/actors")
async def monitor_actors(runtime: RuntimeDep, _admin: AdminUser) -> dict[str, Any]:
    """Live sessions per session host, the storage actor's queue and recent flushes, and
    raychat's named actors."""
    return envelope(await monitor.actors_summary(runtime))
