"""Sessions over REST: list, read, rename, copy, delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from actors.errors import NotFound
from actors.ray.registry import Runtime
from serve_app.auth.access import access_chat_by_id
from serve_app.auth.tokens import Principal
from serve_app.observability.audit_log import audit_entry, record_audit
from serve_app.observability.business_events import session_created_event, session_deleted_event
from serve_app.services.live_sessions import dedicated_resources, do_drop_sessions, session_key
from storage.records import ChatListItem, HistoryQuery, MessageRow, SessionRow


async def access_live_chat(
    runtime: Runtime, user: Principal, chat_id: str, *, write: bool = False
) -> SessionRow:
    """A live chat of the caller (admins: any, for reading); NotFound when there is none."""
    session = await access_chat_by_id(runtime, user, chat_id, write=write)
    if session is None:
        raise NotFound("This chat does not exist", chat_id=chat_id)
    return session


async def chat_info(runtime: Runtime, user: Principal, chat_id: str) -> SessionRow | None:
    """The caller's chat row, or None (missing, or deleted by the user). A chat soft-deleted
    because its app was deleted is still returned (with `is_delete` 1): Bisheng's client reads
    `flow_name` from it to show "app deleted" (API.md §4.5)."""
    session = await access_chat_by_id(runtime, user, chat_id, include_deleted=True)
    if session is None or not session.is_delete:
        return session
    return session if not await _app_exists(runtime, session.flow_id) else None


async def _app_exists(runtime: Runtime, app_id: str) -> bool:
    if await runtime.storage.get_flow(app_id) is not None:
        return True
    return await runtime.storage.get_assistant(app_id) is not None


async def list_chats(
    runtime: Runtime, user: Principal, flow_types: Sequence[int], page: int, limit: int
) -> list[ChatListItem]:
    """The caller's own live chats (admins included: this is their chat list, not an audit)."""
    return await runtime.storage.list_chats(user.user_id, flow_types, page, limit)


async def chat_history(
    runtime: Runtime,
    user: Principal,
    chat_id: str,
    flow_id: str,
    before_id: int | None,
    limit: int,
    *,
    audit: bool = False,
) -> list[MessageRow]:
    """A page of a chat's messages, newest first: [] for a missing chat or another app's chat,
    Forbidden for another user's. With `audit`, admins also read soft-deleted chats."""
    include_deleted = audit and user.is_admin
    session = await access_chat_by_id(runtime, user, chat_id, include_deleted=include_deleted)
    if session is None or session.flow_id != flow_id:
        return []
    return await runtime.storage.history(
        HistoryQuery(chat_id, flow_id, before_id, limit, include_deleted)
    )


async def chat_messages(runtime: Runtime, user: Principal, chat_id: str) -> list[MessageRow]:
    """The newest 1000 messages, oldest first; NotFound when there are none. Admins also read
    soft-deleted chats (audit tooling)."""
    session = await access_chat_by_id(runtime, user, chat_id, include_deleted=user.is_admin)
    rows = (
        []
        if session is None
        else await runtime.storage.session_messages(chat_id, 1000, include_deleted=user.is_admin)
    )
    if not rows:
        raise NotFound("This chat has no messages", chat_id=chat_id)
    return rows


async def do_rename_chat(runtime: Runtime, user: Principal, chat_id: str, name: str) -> None:
    """Set the name of the caller's chat."""
    await access_live_chat(runtime, user, chat_id, write=True)
    if not await runtime.storage.rename_session(chat_id, name):
        raise NotFound("This chat does not exist", chat_id=chat_id)
    await record_audit(
        runtime, audit_entry(user.user_id, "session.rename", "session", chat_id, name=name)
    )


async def do_copy_chat(runtime: Runtime, user: Principal, chat_id: str) -> str:
    """Copy the caller's chat with every message (same order); returns the new chat id."""
    session = await access_live_chat(runtime, user, chat_id, write=True)
    new_chat_id = uuid.uuid4().hex  # chosen here: a retry after a storage restart copies once
    if not await runtime.storage.copy_session(chat_id, new_chat_id, user.user_id):
        raise NotFound("This chat does not exist", chat_id=chat_id)
    created = session_created_event(
        user.user_id, new_chat_id, session.flow_id, session.flow_name, session.flow_type
    )
    entry = audit_entry(user.user_id, "session.copy", "session", new_chat_id, source=chat_id)
    await record_audit(runtime, entry, telemetry=(created,))
    return new_chat_id


async def do_delete_chat(runtime: Runtime, user: Principal, chat_id: str) -> None:
    """Soft-delete the caller's chat (rows stay for audit) and stop its live session actor."""
    session = await access_live_chat(runtime, user, chat_id, write=True)
    if not await runtime.storage.delete_session(chat_id):
        raise NotFound("This chat does not exist", chat_id=chat_id)
    deleted = session_deleted_event(user.user_id, chat_id)
    entry = audit_entry(user.user_id, "session.delete", "session", chat_id)
    await record_audit(runtime, entry, telemetry=(deleted,))
    dedicated = await dedicated_resources(runtime, session)
    await do_drop_sessions(runtime, [session_key(session, dedicated)])
