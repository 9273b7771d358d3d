"""`GET /health`: 200 once the ingress, the storage actor, the database and every shared session
host answer, 503 before (warm start: `raychat serve` says ready only after this, so the first
chat does not wait for host processes to start)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from actors.errors import RaychatError
from serve_app.deps import RuntimeDep

router = APIRouter(tags=["health"])
HEALTH_TIMEOUT_S = 5.0


@router.get("/health")
async def health(runtime: RuntimeDep) -> JSONResponse:
    """Public readiness probe."""
    try:
        await asyncio.wait_for(runtime.storage.ping(), HEALTH_TIMEOUT_S)
        await asyncio.wait_for(runtime.warm_hosts(), HEALTH_TIMEOUT_S)
    except (RaychatError, TimeoutError, OSError) as exc:
        return JSONResponse(
            {"status": "unavailable", "reason": type(exc).__name__}, status_code=503
        )
    return JSONResponse({"status": "ok"})
