"""Apps a user can chat with now (`/chat/chat/online`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.apps import OnlineAppPublic
from serve_app.schemas.envelope import INVALID, UNAUTHORIZED, Envelope, ok
from serve_app.schemas.text import SafeStr

router = APIRouter(prefix="/api/v1/chat", tags=["apps"], responses=UNAUTHORIZED)


@router.get("/chat/online", responses=INVALID)
@router.get("/online", responses=INVALID)  # Bisheng's path (API.md §4.5)
async def get_online_apps(
    runtime: RuntimeDep,
    user: CurrentUser,
    keyword: Annotated[SafeStr | None, Query(max_length=255, description="in the name")] = None,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Envelope[list[OnlineAppPublic]]:
    """Online flows (`flow_type` 1) and assistants (5) the caller may use, newest first."""
    user_id = None if user.is_admin else user.user_id
    apps = await runtime.storage.list_online_apps(user_id, keyword or None, page, limit)
    return ok([OnlineAppPublic.of(a) for a in apps])
