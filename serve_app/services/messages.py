"""Messages over REST: insert a question/answer pair, edit, delete."""

from __future__ import annotations

import uuid

from actors.errors import Conflict, Forbidden, InvalidInput, NotFound
from actors.ray.registry import Runtime
from serve_app.auth.access import AppRecord, access_app_for_chat, access_message_by_id
from serve_app.auth.tokens import Principal
from serve_app.observability.audit_log import audit_entry, record_audit
from serve_app.observability.business_events import SOURCE_API, session_created_event
from serve_app.schemas.chats import MessageCreate, MessageUpdate
from serve_app.services.live_sessions import do_refresh_live_context
from storage.records import (
    FLOW_TYPE_ASSISTANT,
    FLOW_TYPE_FLOW,
    AuditRecord,
    FlowRecord,
    MessageRecord,
    MessageRow,
    SessionClaim,
    SessionRecord,
    TelemetryRecord,
)


def _flow_type(app: AppRecord) -> int:
    return FLOW_TYPE_FLOW if isinstance(app, FlowRecord) else FLOW_TYPE_ASSISTANT


def new_session(app: AppRecord, chat_id: str, user_id: int) -> SessionRecord:
    """The session row a chat of `app` starts with."""
    return SessionRecord(
        chat_id=chat_id,
        flow_id=app.id,
        flow_type=_flow_type(app),
        flow_name=app.name,
        user_id=user_id,
        flow_description=app.description,
        flow_logo=app.logo,
    )


def _row(body: MessageCreate, user_id: int, text: str, is_bot: bool) -> MessageRecord:
    return MessageRecord(
        row_key=uuid.uuid4().hex,
        chat_id=body.chat_id,
        flow_id=body.flow_id,
        user_id=user_id,
        is_bot=is_bot,
        message=text,
        type="bot" if is_bot else "human",
        category="answer" if is_bot else "question",
    )


def check_message_create(body: MessageCreate) -> list[tuple[str, bool]]:
    """The (text, is_bot) rows to insert; InvalidInput when there are none."""
    rows = [(t, b) for t, b in ((body.human_message, False), (body.answer_message, True)) if t]
    if not rows:
        raise InvalidInput("Give human_message, answer_message or both", fields=["human_message"])
    return rows


async def do_insert_messages(
    runtime: Runtime, user: Principal, body: MessageCreate
) -> list[MessageRow]:
    """Append a question and/or answer to the caller's chat with an app they may use; the chat
    is created if missing. Ownership is decided in storage (`claim_session`, insert-or-verify),
    never by a read before the write: Forbidden when another user created the chat first,
    Conflict when it belongs to another app or was deleted. Nothing is stored on a refusal."""
    texts = check_message_create(body)
    app = await access_app_for_chat(runtime, user, body.flow_id)
    claim = await runtime.storage.claim_session(new_session(app, body.chat_id, user.user_id))
    check_claim(claim, user, body.chat_id, body.flow_id)
    records = [_row(body, user.user_id, text, is_bot) for text, is_bot in texts]
    ids = await runtime.storage.submit(records)
    rows = await runtime.storage.get_messages(ids)
    await _record_insert(runtime, user, body, ids, claim.created, app)
    if not claim.created:
        await do_refresh_live_context(runtime, body.chat_id)
    return rows


def check_claim(claim: SessionClaim, user: Principal, chat_id: str, flow_id: str) -> None:
    """May `user` write into the chat storage says is owned as in `claim`?"""
    if claim.user_id != user.user_id:
        raise Forbidden("This chat belongs to another user", chat_id=chat_id)
    if claim.is_delete:
        raise Conflict("This chat was deleted; use a new chat_id", chat_id=chat_id)
    if claim.flow_id != flow_id:
        raise Conflict("This chat belongs to another app", chat_id=chat_id)


async def _record_insert(
    runtime: Runtime,
    user: Principal,
    body: MessageCreate,
    ids: list[int],
    created: bool,
    app: AppRecord,
) -> None:
    entries: list[AuditRecord] = [
        audit_entry(user.user_id, "message.create", "message", i, chat_id=body.chat_id) for i in ids
    ]
    events: tuple[TelemetryRecord, ...] = ()
    if created:
        entries.append(audit_entry(user.user_id, "session.create", "session", body.chat_id))
        events = (
            session_created_event(
                user.user_id, body.chat_id, app.id, app.name, _flow_type(app), SOURCE_API
            ),
        )
    await record_audit(runtime, *entries, telemetry=events)


async def do_update_message(
    runtime: Runtime, user: Principal, message_id: int, body: MessageUpdate
) -> None:
    """Replace the text (and category) of a message in the caller's chat."""
    message = await access_message_by_id(runtime, user, message_id, write=True)
    if not await runtime.storage.update_message(message_id, body.message, body.category):
        raise NotFound("This message does not exist", message_id=message_id)
    await do_refresh_live_context(runtime, message.chat_id)
    await record_audit(
        runtime,
        audit_entry(user.user_id, "message.update", "message", message_id, chat_id=message.chat_id),
    )


async def do_delete_message(runtime: Runtime, user: Principal, message_id: int) -> None:
    """Delete a message of the caller's chat; its feedback leaves the session counters."""
    message = await access_message_by_id(runtime, user, message_id, write=True)
    if not await runtime.storage.delete_message(message_id):
        raise NotFound("This message does not exist", message_id=message_id)
    await do_refresh_live_context(runtime, message.chat_id)
    await record_audit(
        runtime,
        audit_entry(user.user_id, "message.delete", "message", message_id, chat_id=message.chat_id),
    )
