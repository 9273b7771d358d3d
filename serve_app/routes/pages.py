"""Built-in pages (API.md §0): `GET /` the web chat page, `GET /dashboard` the actor monitor
page, and `GET /api/v1/monitor/actors`, the admin-only data the monitor page polls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from serve_app.deps import AdminUser, RuntimeDep
from serve_app.errors import envelope

router = APIRouter(tags=["pages"])
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/", include_in_schema=False)
async def chat_page() -> FileResponse:
    """The built-in web chat page (public; it asks for a token)."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    """The actor monitor page (public; its data needs an admin token)."""
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


@router.get("/api/v1/monitor/actors")
async def monitor_actors(runtime: RuntimeDep, _admin: AdminUser) -> dict[str, Any]:
    """Live sessions per session host, the storage actor's queue and recent flushes, and
    raychat's named actors. Admins only."""
    hosts = await runtime.live_sessions()
    flushes = await runtime.storage.flush_stats()
    recent = flushes[-20:]
    storage = {
        "queue_depth": await runtime.storage.queue_depth(),
        "recent_flushes": len(recent),
        "mean_batch_rows": round(sum(f.rows for f in recent) / len(recent), 1) if recent else 0,
        "max_flush_ms": round(max((f.seconds for f in recent), default=0.0) * 1000, 2),
    }
    return envelope(
        {
            "hosts": {f"session-host-{i}": n for i, n in hosts.items()},
            "storage": storage,
            "actors": await runtime.actor_names(),
        }
    )
