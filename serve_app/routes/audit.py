"""Audit tooling (API.md §3): chat reads for audit pages, and admin-only session, audit-log and
telemetry queries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import Field

from serve_app.deps import AdminUser, CurrentUser, RuntimeDep
from serve_app.schemas.chats import MessagePublic, SessionMessagePublic, SessionPublic
from serve_app.schemas.envelope import (
    INVALID,
    OBJECT_ERRORS,
    UNAUTHORIZED,
    BishengPageOf,
    DayOrTime,
    Envelope,
    ok,
)
from serve_app.schemas.reports import AuditLogPublic, TelemetryPublic
from serve_app.schemas.text import DB_INT_MAX, OptionalCursor, SafeStr
from serve_app.services.chats import chat_history, chat_messages
from serve_app.services.reports import audit_log, audit_sessions, telemetry_events
from storage.records import Feedback

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=UNAUTHORIZED)
Id64 = Annotated[SafeStr, Query(min_length=1, max_length=64)]
DateQuery = Annotated[DayOrTime | None, Query()]
UserIdItem = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
FlowIdItem = Annotated[SafeStr, Field(min_length=1, max_length=64)]
EventType = Annotated[
    SafeStr,
    Query(
        min_length=1,
        max_length=64,
        description="new_message_session, delete_message_session, message_feedback, "
        "application_alive, application_process",
    ),
]


@router.get("/session/chat/history", responses=OBJECT_ERRORS)
async def get_session_history(
    runtime: RuntimeDep,
    user: CurrentUser,
    chat_id: Id64,
    flow_id: Id64,
    id: Annotated[
        OptionalCursor, Query(description="cursor: rows with id < this; empty = the first page")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Envelope[list[MessagePublic]]:
    """As `/chat/chat/history`, for audit tooling: admins read any chat (soft-deleted ones
    too), other users only their own."""
    rows = await chat_history(runtime, user, chat_id, flow_id, id, page_size, audit=True)
    return ok([MessagePublic.of(r) for r in rows])


@router.get("/session/chat/messages/{conversationId}", responses=OBJECT_ERRORS)
async def get_session_messages(
    runtime: RuntimeDep,
    user: CurrentUser,
    conversation_id: Annotated[SafeStr, Path(alias="conversationId", min_length=1, max_length=64)],
) -> Envelope[list[SessionMessagePublic]]:
    """The chat's newest 1000 messages, oldest first; 404 if it has none. Each row also carries
    the fields of Bisheng's `WorkstationMessage` (`messageId`, `text`, `isCreatedByUser`,
    `sender`), which its admin log page reads."""
    rows = await chat_messages(runtime, user, conversation_id)
    session = await runtime.storage.get_session(conversation_id)
    app_name = session.flow_name if session is not None else None
    return ok([SessionMessagePublic.of_row(r, app_name) for r in rows])


@router.get("/audit/session", responses=OBJECT_ERRORS)
async def get_audit_sessions(
    runtime: RuntimeDep,
    admin: AdminUser,
    user_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
    flow_id: Annotated[SafeStr | None, Query(min_length=1, max_length=64)] = None,
    feedback: Annotated[Feedback | None, Query()] = None,
    start_date: DateQuery = None,
    end_date: DateQuery = None,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    user_ids: Annotated[list[UserIdItem], Query(alias="user_ids[]", max_length=100)] = [],  # noqa: B006
    flow_ids: Annotated[list[FlowIdItem], Query(alias="flow_ids[]", max_length=100)] = [],  # noqa: B006
    page_size: Annotated[int | None, Query(ge=1, le=100, description="Bisheng's `limit`")] = None,
) -> Envelope[BishengPageOf[SessionPublic]]:
    """*Admin.* Sessions (soft-deleted ones too) by owner, app, feedback counter > 0 and
    creation date, newest first. Also takes Bisheng's platform parameters (`user_ids[]`,
    `flow_ids[]`: any of them; `page_size`); the items are under `list` and under `data`."""
    found = await audit_sessions(
        runtime,
        user_id,
        flow_id,
        feedback,
        start_date,
        end_date,
        page,
        page_size or limit,
        user_ids=tuple(user_ids),
        flow_ids=tuple(flow_ids),
    )
    items = [SessionPublic.of(s) for s in found.items]
    return ok(BishengPageOf(list=items, data=items, total=found.total))


@router.get("/audit/log", responses={**OBJECT_ERRORS, **INVALID})
async def get_audit_log(
    runtime: RuntimeDep,
    admin: AdminUser,
    user_id: Annotated[int, Query(ge=1, le=DB_INT_MAX)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Envelope[list[AuditLogPublic]]:
    """*Admin.* A user's newest audit-log entries (changes made over REST)."""
    return ok([AuditLogPublic.of(e) for e in await audit_log(runtime, user_id, limit)])


@router.get("/audit/telemetry", responses={**OBJECT_ERRORS, **INVALID})
async def get_telemetry(
    runtime: RuntimeDep,
    admin: AdminUser,
    event_type: EventType,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Envelope[list[TelemetryPublic]]:
    """*Admin.* The newest telemetry events of one type."""
    return ok([TelemetryPublic.of(e) for e in await telemetry_events(runtime, event_type, limit)])
