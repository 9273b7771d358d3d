"""Feedback on messages (API.md §3, §5): like/dislike, copy, comment, telemetry."""

from __future__ import annotations

from fastapi import APIRouter

from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.chats import CommentCreate, CopiedCreate, LikedCreate, TelemetryCreate
from serve_app.schemas.envelope import OBJECT_ERRORS, UNAUTHORIZED, Envelope, ok
from serve_app.services.feedback import (
    do_comment,
    do_feedback_telemetry,
    do_mark_copied,
    do_set_liked,
)

router = APIRouter(prefix="/api/v1", tags=["feedback"], responses=UNAUTHORIZED)


@router.post("/chat/liked", responses=OBJECT_ERRORS)
@router.post("/liked", responses=OBJECT_ERRORS)  # Bisheng's path (API.md §4.5)
async def set_liked(runtime: RuntimeDep, user: CurrentUser, body: LikedCreate) -> Envelope[None]:
    """Like (1), dislike (2) or clear (0) a message of the caller's chat; the session's
    counters move as API.md §5 says."""
    await do_set_liked(runtime, user, body.message_id, body.liked)
    return ok(None)


@router.post("/chat/copied", responses=OBJECT_ERRORS)
async def mark_copied(runtime: RuntimeDep, user: CurrentUser, body: CopiedCreate) -> Envelope[None]:
    """Mark a message copied; the first copy counts on the session, later ones do not."""
    await do_mark_copied(runtime, user, body.message_id)
    return ok(None)


@router.post("/chat/comment", responses=OBJECT_ERRORS)
async def comment(runtime: RuntimeDep, user: CurrentUser, body: CommentCreate) -> Envelope[None]:
    """Comment on a message (at most 4096 characters, 422 beyond); stored apart from the
    `break_answer` remark."""
    await do_comment(runtime, user, body.message_id, body.comment)
    return ok(None)


@router.post("/session/chat/message/telemetry", responses=OBJECT_ERRORS)
async def feedback_telemetry(
    runtime: RuntimeDep, user: CurrentUser, body: TelemetryCreate
) -> Envelope[None]:
    """Record a `message_feedback` event (like, dislike or copy) for a message of the caller's
    chat; 404 if the message is missing."""
    await do_feedback_telemetry(runtime, user, body.message_id, body.operation_type)
    return ok(None)
