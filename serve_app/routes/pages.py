"""Built-in pages (API.md §0): `GET /` the web chat page, `GET /dashboard` the actor monitor
page, and `/static/...`, their modules and style sheet. The pages are public (they hold no
data); everything they show comes from the API with the login cookie (`routes/monitor.py` for
the dashboard)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(tags=["pages"])
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/", include_in_schema=False)
async def chat_page() -> FileResponse:
    """The built-in web chat page (public; it asks the user to log in)."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    """The actor monitor page (public; its data needs an admin login)."""
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


# The static files served, by name (nothing else under static/ is reachable, no path joins).
ASSETS = {
    name: media
    for name, media in (
        ("chat.js", "text/javascript"),
        ("dashboard.js", "text/javascript"),
        ("common.js", "text/javascript"),
        ("markdown.js", "text/javascript"),
        ("raychat.css", "text/css"),
    )
}


@router.get("/static/{name}", include_in_schema=False)
async def static_asset(name: str) -> FileResponse:
    """A module or style sheet of the pages (public, no build step)."""
    media = ASSETS.get(name)
    if media is None:
        raise HTTPException(status_code=404)
    return FileResponse(STATIC / name, media_type=media, headers={"Cache-Control": "no-cache"})
