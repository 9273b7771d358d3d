"""`access_*_by_*`: the only way to load a user-owned object (object-level authorization)."""

from __future__ import annotations

from actors.errors import (
    AssistantDeleted,
    AssistantOffline,
    FlowDeleted,
    FlowOffline,
    Forbidden,
)
from actors.registry import Runtime
from serve_app.auth import Principal
from storage.records import AssistantRecord, FlowRecord

FLOW_ONLINE = 2


async def access_flow_for_chat(runtime: Runtime, principal: Principal, flow_id: str) -> FlowRecord:
    """A flow the caller may chat with: it exists, is online and is theirs, public, or they are
    an admin. Raises FlowDeleted / FlowOffline / Forbidden."""
    flow = await runtime.storage.get_flow(flow_id)
    if flow is None:
        raise FlowDeleted(flow_id=flow_id)
    if flow.status != FLOW_ONLINE:
        raise FlowOffline(flow_id=flow_id)
    if not (flow.is_public or flow.user_id == principal.user_id or principal.is_admin):
        raise Forbidden("No permission to use this app")
    return flow


async def access_assistant_for_chat(
    runtime: Runtime, principal: Principal, assistant_id: str
) -> AssistantRecord:
    """An assistant the caller may chat with: it exists, is online and is theirs, public, or
    they are an admin. Raises AssistantDeleted / AssistantOffline / Forbidden."""
    assistant = await runtime.storage.get_assistant(assistant_id)
    if assistant is None:
        raise AssistantDeleted(assistant_id=assistant_id)
    if assistant.status != FLOW_ONLINE:
        raise AssistantOffline(assistant_id=assistant_id)
    if not (assistant.is_public or assistant.user_id == principal.user_id or principal.is_admin):
        raise Forbidden("No permission to use this app")
    return assistant


async def access_chat_by_user(runtime: Runtime, principal: Principal, chat_id: str) -> str | None:
    """The flow id of an existing chat the caller may read, None if the chat does not exist.
    Raises Forbidden for another user's chat (admins may read all)."""
    owner = await runtime.storage.session_owner(chat_id)
    if owner is None:
        return None
    user_id, flow_id = owner
    if user_id != principal.user_id and not principal.is_admin:
        raise Forbidden()
    return flow_id
