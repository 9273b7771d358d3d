"""Messages over REST (API.md §3): insert, edit, delete; also at Bisheng's paths (§4.5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from serve_app.deps import CurrentUser, LimiterDep, RuntimeDep
from serve_app.schemas.chats import MessageCreate, MessagePublic, MessageUpdate
from serve_app.schemas.envelope import (
    CONFLICT,
    OBJECT_ERRORS,
    RATE_LIMITED,
    UNAUTHORIZED,
    Envelope,
    ok,
)
from serve_app.schemas.text import DB_INT_MAX
from serve_app.services.messages import do_delete_message, do_insert_messages, do_update_message

router = APIRouter(prefix="/api/v1/chat", tags=["messages"], responses=UNAUTHORIZED)
MessageId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]


@router.post("/chat/message", responses={**OBJECT_ERRORS, **CONFLICT, **RATE_LIMITED})
@router.post("/message", responses={**OBJECT_ERRORS, **CONFLICT, **RATE_LIMITED})
async def insert_messages(
    runtime: RuntimeDep, user: CurrentUser, limiter: LimiterDep, body: MessageCreate
) -> Envelope[list[MessagePublic]]:
    """Append a question (`type=human, category=question`) and/or an answer (`type=bot,
    category=answer`) to the caller's chat, creating it if missing; answers the inserted rows.
    Counts against the caller's asks-per-minute limit (429 + Retry-After beyond)."""
    await limiter.check_ask(user.user_id)
    rows = await do_insert_messages(runtime, user, body)
    return ok([MessagePublic.of(r) for r in rows])


@router.put("/chat/message/{message_id}", responses=OBJECT_ERRORS)
@router.put("/message/{message_id}", responses=OBJECT_ERRORS)
async def update_message(
    runtime: RuntimeDep, user: CurrentUser, message_id: MessageId, body: MessageUpdate
) -> Envelope[None]:
    """Replace a message's text (and category) in the caller's chat; 404 missing, 403 not
    the owner."""
    await do_update_message(runtime, user, message_id, body)
    return ok(None)


@router.delete("/chat/message/{message_id}", responses=OBJECT_ERRORS)
@router.delete("/message/{message_id}", responses=OBJECT_ERRORS)
async def delete_message(
    runtime: RuntimeDep, user: CurrentUser, message_id: MessageId
) -> Envelope[None]:
    """Delete a message of the caller's chat; 404 missing, 403 not the owner."""
    await do_delete_message(runtime, user, message_id)
    return ok(None)
