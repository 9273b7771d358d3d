"""Feedback on messages (API.md §5): like/dislike, copy, comment, and telemetry events. Only
the chat's owner gives feedback on its messages."""

from __future__ import annotations

from actors.errors import NotFound
from actors.ray.registry import Runtime
from serve_app.auth.access import access_message_by_id
from serve_app.auth.tokens import Principal
from serve_app.observability.business_events import (
    FeedbackOperation,
    feedback_event,
    write_telemetry,
)


async def do_set_liked(runtime: Runtime, user: Principal, message_id: int, liked: int) -> None:
    """Set the message's `liked` (0/1/2); the session counters move in the same transaction."""
    await access_message_by_id(runtime, user, message_id, write=True)
    if await runtime.storage.set_liked(message_id, liked) is None:
        raise NotFound("This message does not exist", message_id=message_id)


async def do_mark_copied(runtime: Runtime, user: Principal, message_id: int) -> None:
    """Mark the message copied; only the first copy counts on the session."""
    await access_message_by_id(runtime, user, message_id, write=True)
    if await runtime.storage.mark_copied(message_id) is None:
        raise NotFound("This message does not exist", message_id=message_id)


async def do_comment(runtime: Runtime, user: Principal, message_id: int, comment: str) -> None:
    """Store the caller's comment on the message (its own column; `remark` is untouched)."""
    await access_message_by_id(runtime, user, message_id, write=True)
    if not await runtime.storage.set_comment(message_id, comment):
        raise NotFound("This message does not exist", message_id=message_id)


async def do_feedback_telemetry(
    runtime: Runtime, user: Principal, message_id: int, operation_type: FeedbackOperation
) -> None:
    """Record a `message_feedback` event for a message of the caller's chat."""
    message = await access_message_by_id(runtime, user, message_id, write=True)
    session = await runtime.storage.get_session(message.chat_id)
    app_name = None if session is None else session.flow_name
    flow_type = 1 if session is None else session.flow_type
    event = feedback_event(user.user_id, message, operation_type, app_name, flow_type)
    await write_telemetry(runtime, [event])
