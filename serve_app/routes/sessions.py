"""Sessions (chats) over REST (API.md §3): list, history, info, rename, copy, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.chats import (
    ChatListItemPublic,
    CopyCreate,
    CopyPublic,
    MessagePublic,
    RenameCreate,
    SessionPublic,
)
from serve_app.schemas.envelope import INVALID, OBJECT_ERRORS, UNAUTHORIZED, Envelope, ok
from serve_app.schemas.text import OptionalCursor, SafeStr
from serve_app.services.chats import (
    chat_history,
    chat_info,
    do_copy_chat,
    do_delete_chat,
    do_rename_chat,
    list_chats,
)

router = APIRouter(prefix="/api/v1/chat", tags=["sessions"], responses=UNAUTHORIZED)
ChatIdQuery = Annotated[SafeStr, Query(min_length=1, max_length=64)]
FlowIdQuery = Annotated[SafeStr, Query(min_length=1, max_length=64)]
Cursor = Annotated[
    OptionalCursor, Query(description="cursor: rows with id < this; empty = the first page")
]
PageSize = Annotated[int, Query(ge=1, le=100)]
FlowType = Annotated[int, Query(ge=1, le=99)]


@router.get("/chat/list", responses=INVALID)
@router.get("/list", responses=INVALID)
async def get_chat_list(
    runtime: RuntimeDep,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    flow_type: Annotated[list[FlowType] | None, Query(description="1 flow, 5 assistant")] = None,
) -> Envelope[list[ChatListItemPublic]]:
    """The caller's live sessions, newest `update_time` first, each with its newest message."""
    items = await list_chats(runtime, user, flow_type or [], page, limit)
    return ok([ChatListItemPublic.of(i) for i in items])


@router.get("/chat/history", responses=OBJECT_ERRORS)
@router.get("/history", responses=OBJECT_ERRORS)
async def get_chat_history(
    runtime: RuntimeDep,
    user: CurrentUser,
    chat_id: ChatIdQuery,
    flow_id: FlowIdQuery,
    id: Cursor = None,
    page_size: PageSize = 20,
) -> Envelope[list[MessagePublic]]:
    """A page of a chat's messages, newest first; [] for a missing chat or another flow's chat;
    403 for another user's chat."""
    rows = await chat_history(runtime, user, chat_id, flow_id, id, page_size)
    return ok([MessagePublic.of(r) for r in rows])


@router.get("/chat/info", responses=OBJECT_ERRORS)
@router.get("/info", responses=OBJECT_ERRORS)
async def get_chat_info(
    runtime: RuntimeDep, user: CurrentUser, chat_id: ChatIdQuery
) -> Envelope[SessionPublic | None]:
    """The session row of the caller's chat, or null (missing or deleted by its user; a chat
    whose app was deleted is still returned); 403 for another user's chat (admins may read
    any)."""
    session = await chat_info(runtime, user, chat_id)
    return ok(None if session is None else SessionPublic.of(session))


@router.post("/chat/conversation/rename", responses=OBJECT_ERRORS)
@router.post("/conversation/rename", responses=OBJECT_ERRORS)
async def rename_chat(runtime: RuntimeDep, user: CurrentUser, body: RenameCreate) -> Envelope[None]:
    """Set the `name` of the caller's chat."""
    await do_rename_chat(runtime, user, body.conversation_id, body.name)
    return ok(None)


@router.post("/chat/conversation/copy", responses=OBJECT_ERRORS)
@router.post("/conversation/copy", responses=OBJECT_ERRORS)
async def copy_chat(
    runtime: RuntimeDep, user: CurrentUser, body: CopyCreate
) -> Envelope[CopyPublic]:
    """A new chat of the caller with copies of every message of theirs, in the same order
    (feedback reset)."""
    return ok(CopyPublic(chat_id=await do_copy_chat(runtime, user, body.conversation_id)))


@router.delete("/{chat_id}", responses=OBJECT_ERRORS)
async def delete_chat(
    runtime: RuntimeDep,
    user: CurrentUser,
    chat_id: Annotated[SafeStr, Path(min_length=1, max_length=64)],
) -> Envelope[None]:
    """Soft-delete the caller's chat: it leaves lists and history, its rows stay for audit,
    and its live session actor is stopped."""
    await do_delete_chat(runtime, user, chat_id)
    return ok(None)
