"""The sessions of an app or a chat, when the app or chat goes away: find them, stop their
live session actors, record their deletion."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from actors.errors import RaychatError
from actors.ray.registry import Runtime
from actors.sessions.apps import AppKind
from actors.sessions.placement import ProfileName, placement_of
from actors.sessions.session import SessionKey
from serve_app.observability.audit_log import record_audit
from serve_app.observability.business_events import session_deleted_event
from storage.records import FLOW_TYPE_ASSISTANT, SessionFilter, SessionRow

log = logging.getLogger(__name__)
PAGE = 500
DROP_CONCURRENCY = 32


async def live_sessions_of_app(runtime: Runtime, app_id: str) -> list[SessionRow]:
    """Every live (not deleted) session of an app, page by page."""
    found: list[SessionRow] = []
    page = 1
    while True:
        chunk = await runtime.storage.audit_sessions(
            SessionFilter(flow_id=app_id, include_deleted=False), page, PAGE
        )
        found.extend(chunk.items)
        if not chunk.items or len(found) >= chunk.total:
            return found
        page += 1


async def dedicated_resources(runtime: Runtime, session: SessionRow) -> ProfileName | None:
    """The dedicated placement of a flow session (None for shared placement or assistants)."""
    if session.flow_type == FLOW_TYPE_ASSISTANT:
        return None
    flow = await runtime.storage.get_flow(session.flow_id)
    if flow is None:
        return None
    try:
        return placement_of(flow.data)
    except RaychatError:
        return None


def session_key(session: SessionRow, dedicated: ProfileName | None) -> SessionKey:
    """The key of a chat's session actor."""
    kind: AppKind = "assistant" if session.flow_type == FLOW_TYPE_ASSISTANT else "flow"
    return SessionKey(session.flow_id, session.chat_id, kind=kind, dedicated=dedicated)


async def do_drop_sessions(runtime: Runtime, keys: Sequence[SessionKey]) -> None:
    """Stop the live session actors among `keys` (a bounded number of calls at a time) and
    delete their archived frames. A host that cannot be reached is logged: its session fails
    its next turn on the deleted app or chat anyway."""
    gate = asyncio.Semaphore(DROP_CONCURRENCY)

    async def drop(key: SessionKey) -> None:
        async with gate:
            try:
                await runtime.drop_if_live(key)
            except RaychatError as exc:
                log.warning("could not stop session %s: %s", key.text, exc.message)
            await _forget_frames(runtime, key)

    await asyncio.gather(*(drop(k) for k in keys))


async def _forget_frames(runtime: Runtime, key: SessionKey) -> None:
    # A deleted chat's frames leave the Redis archive now, not when its 24 h TTL ends.
    if runtime.archive is None:
        return
    try:
        await runtime.archive.delete(key.text)
    except Exception as exc:  # Redis down: the TTL still removes them
        log.warning("could not delete the frame archive of %s: %s", key.text, exc)


async def do_retire_sessions(
    runtime: Runtime, user_id: int, sessions: Sequence[SessionRow], dedicated: ProfileName | None
) -> None:
    """After an app was deleted (its sessions soft-deleted with it): stop the live session
    actors and record one `delete_message_session` event per session."""
    await do_drop_sessions(runtime, [session_key(s, dedicated) for s in sessions])
    events = tuple(session_deleted_event(user_id, s.chat_id) for s in sessions)
    if events:
        await record_audit(runtime, telemetry=events)


async def do_refresh_live_context(runtime: Runtime, chat_id: str) -> None:
    """Messages of `chat_id` changed over REST: its live session actor (if any) rebuilds its
    model context before its next turn. Best effort: a host that cannot be reached is logged
    (the session reads storage again on its next activation anyway)."""
    session = await runtime.storage.get_session(chat_id)
    if session is None:
        return
    key = session_key(session, await dedicated_resources(runtime, session))
    try:
        await runtime.refresh_context_if_live(key)
    except RaychatError as exc:
        log.warning("could not refresh session %s: %s", key.text, exc.message)
