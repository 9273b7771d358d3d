"""Sessions and messages over REST (API.md §3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from serve_app.access import access_chat_by_user
from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.errors import envelope

router = APIRouter(prefix="/api/v1/chat", tags=["chat"])


@router.get("/chat/history")
async def chat_history(
    runtime: RuntimeDep,
    user: CurrentUser,
    chat_id: Annotated[str, Query(min_length=1, max_length=64)],
    flow_id: Annotated[str, Query(min_length=1, max_length=64)],
    id: Annotated[int | None, Query(ge=1, description="cursor: rows with id < this")] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """A page of a chat's messages, newest first; [] for a missing chat or another flow's chat;
    403 for another user's chat."""
    owner_flow = await access_chat_by_user(runtime, user, chat_id)
    if owner_flow is None or owner_flow != flow_id:
        return envelope([])
    rows = await runtime.storage.history(chat_id, flow_id, id, page_size)
    return envelope([r.to_public() for r in rows])
