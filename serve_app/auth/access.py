"""`access_*_by_*`: the only way to load a user-owned object (object-level authorization).

Rules (API.md §1, §2): a user reads and changes their own chats, messages and apps; apps marked
public may be read and used by everyone; admins (role verified against the user table) may read
everything but change only what they own. Missing objects raise NotFound (404), other users'
objects Forbidden (403) — except where the contract wants `null`/`[]`, which is why the chat
accessor returns None for a missing chat and lets the route decide.
"""

from __future__ import annotations

from actors.errors import (
    AssistantDeleted,
    AssistantOffline,
    FlowDeleted,
    FlowOffline,
    Forbidden,
    NotFound,
)
from actors.ray.registry import Runtime
from serve_app.auth.tokens import Principal
from storage.records import (
    FLOW_ONLINE,
    AssistantRecord,
    FlowRecord,
    MessageRow,
    SessionRow,
)

AppRecord = FlowRecord | AssistantRecord


def _may_read(principal: Principal, owner_id: int | None, public: bool = False) -> bool:
    return public or owner_id == principal.user_id or principal.is_admin


def _check(principal: Principal, owner_id: int | None, *, write: bool, public: bool) -> None:
    allowed = owner_id == principal.user_id if write else _may_read(principal, owner_id, public)
    if not allowed:
        raise Forbidden()


def _offline_ok(principal: Principal, owner_id: int | None, preview: bool) -> bool:
    """An offline app may be previewed (nothing stored) by its owner: Bisheng's editor test
    chat (API.md §4.5)."""
    return preview and owner_id == principal.user_id


def _usable_flow(
    principal: Principal, flow_id: str, flow: FlowRecord | None, preview: bool = False
) -> FlowRecord:
    if flow is None:
        raise FlowDeleted(flow_id=flow_id)
    if flow.status != FLOW_ONLINE and not _offline_ok(principal, flow.user_id, preview):
        raise FlowOffline(flow_id=flow_id)
    if not _may_read(principal, flow.user_id, flow.is_public):
        raise Forbidden("No permission to use this app")
    return flow


def _usable_assistant(
    principal: Principal,
    assistant_id: str,
    assistant: AssistantRecord | None,
    preview: bool = False,
) -> AssistantRecord:
    if assistant is None:
        raise AssistantDeleted(assistant_id=assistant_id)
    if assistant.status != FLOW_ONLINE and not _offline_ok(principal, assistant.user_id, preview):
        raise AssistantOffline(assistant_id=assistant_id)
    if not _may_read(principal, assistant.user_id, assistant.is_public):
        raise Forbidden("No permission to use this app")
    return assistant


async def access_flow_for_chat(
    runtime: Runtime, principal: Principal, flow_id: str, *, preview: bool = False
) -> FlowRecord:
    """A flow the caller may chat with: it exists, is online (or offline, for a `preview` by
    its owner) and is theirs, public, or they are an admin. Raises FlowDeleted / FlowOffline /
    Forbidden."""
    return _usable_flow(principal, flow_id, await runtime.storage.get_flow(flow_id), preview)


async def access_assistant_for_chat(
    runtime: Runtime, principal: Principal, assistant_id: str, *, preview: bool = False
) -> AssistantRecord:
    """An assistant the caller may chat with, with the same rules as `access_flow_for_chat`.
    Raises AssistantDeleted / AssistantOffline / Forbidden."""
    return _usable_assistant(
        principal, assistant_id, await runtime.storage.get_assistant(assistant_id), preview
    )


async def access_app_for_chat(runtime: Runtime, principal: Principal, app_id: str) -> AppRecord:
    """A flow or assistant (whichever has this id) the caller may chat with; NotFound when
    neither exists, else as `access_flow_for_chat` / `access_assistant_for_chat`."""
    flow = await runtime.storage.get_flow(app_id)
    if flow is not None:
        return _usable_flow(principal, app_id, flow)
    assistant = await runtime.storage.get_assistant(app_id)
    if assistant is not None:
        return _usable_assistant(principal, app_id, assistant)
    raise NotFound("This app does not exist", app_id=app_id)


async def access_flow_by_id(
    runtime: Runtime, principal: Principal, flow_id: str, *, write: bool = False
) -> FlowRecord:
    """A live flow: read if the caller owns it, it is public, or they are an admin; write only
    if they own it. Raises NotFound / Forbidden."""
    flow = await runtime.storage.get_flow(flow_id)
    if flow is None:
        raise NotFound("This flow does not exist", flow_id=flow_id)
    _check(principal, flow.user_id, write=write, public=flow.is_public)
    return flow


async def access_assistant_by_id(
    runtime: Runtime, principal: Principal, assistant_id: str, *, write: bool = False
) -> AssistantRecord:
    """A live assistant, with the same rules as `access_flow_by_id`."""
    assistant = await runtime.storage.get_assistant(assistant_id)
    if assistant is None:
        raise NotFound("This assistant does not exist", assistant_id=assistant_id)
    _check(principal, assistant.user_id, write=write, public=assistant.is_public)
    return assistant


async def access_chat_by_id(
    runtime: Runtime,
    principal: Principal,
    chat_id: str,
    *,
    write: bool = False,
    include_deleted: bool = False,
) -> SessionRow | None:
    """A chat's session row, None when there is none (or it is soft-deleted and
    `include_deleted` is False). Raises Forbidden for another user's chat, deleted or not;
    admins may read every chat but change only their own."""
    session = await runtime.storage.get_session(chat_id)
    if session is None:
        return None
    _check(principal, session.user_id, write=write, public=False)
    if session.is_delete and not include_deleted:
        return None
    return session


async def access_message_by_id(
    runtime: Runtime, principal: Principal, message_id: int, *, write: bool = False
) -> MessageRow:
    """A message of a live chat: the chat's owner may read and change it, admins may read it.
    Raises NotFound (missing, or its chat was deleted) / Forbidden."""
    message = await runtime.storage.get_message(message_id)
    if message is None:
        raise NotFound("This message does not exist", message_id=message_id)
    session = await runtime.storage.get_session(message.chat_id)
    owner = message.user_id if session is None else session.user_id
    _check(principal, owner, write=write, public=False)
    if session is not None and session.is_delete:
        raise NotFound("This message's chat was deleted", message_id=message_id)
    return message
