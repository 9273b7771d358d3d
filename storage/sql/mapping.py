"""Database rows -> plain records (what crosses actor boundaries)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

from storage.records import (
    AssistantRecord,
    AuditRecord,
    FlowRecord,
    FlowVersionRecord,
    MessageRow,
    SessionRow,
    TelemetryRecord,
    UserRecord,
)

AnyRow = Row[Any]


def message_row(row: AnyRow) -> MessageRow:
    """A `chatmessage` row (optionally joined with user_name / flow_name)."""
    m = row._mapping
    return MessageRow(
        id=m["id"],
        is_bot=bool(m["is_bot"]),
        message=m["message"],
        type=m["type"],
        category=m["category"],
        intermediate_steps=m["intermediate_steps"],
        files=m["files"],
        extra=m["extra"],
        flow_id=m["flow_id"],
        chat_id=m["chat_id"],
        user_id=m["user_id"],
        liked=m["liked"],
        copied=m["copied"],
        solved=m["solved"],
        sensitive_status=m["sensitive_status"],
        source=m["source"],
        remark=m["remark"],
        create_time=m["create_time"],
        update_time=m["update_time"],
        user_name=m.get("user_name"),
        flow_name=m.get("flow_name"),
        comment=m.get("comment"),
    )


def session_row(row: AnyRow) -> SessionRow:
    """A `message_session` row."""
    m = row._mapping
    return SessionRow(
        chat_id=m["chat_id"],
        name=m["name"],
        flow_id=m["flow_id"],
        flow_type=m["flow_type"],
        flow_name=m["flow_name"],
        flow_description=m["flow_description"],
        flow_logo=m["flow_logo"],
        user_id=m["user_id"],
        is_delete=bool(m["is_delete"]),
        like=m["like"],
        dislike=m["dislike"],
        copied=m["copied"],
        sensitive_status=m["sensitive_status"],
        create_time=m["create_time"],
        update_time=m["update_time"],
    )


def flow_record(row: AnyRow) -> FlowRecord:
    """A `flow` row."""
    m = row._mapping
    return FlowRecord(
        id=m["id"],
        name=m["name"],
        status=m["status"],
        version=m["version"],
        data=m["data"],
        user_id=m["user_id"],
        description=m["description"],
        logo=m["logo"],
        is_public=bool(m["is_public"]),
        create_time=m["create_time"],
        update_time=m["update_time"],
    )


def flow_version_record(row: AnyRow) -> FlowVersionRecord:
    """A `flow_version` row."""
    m = row._mapping
    return FlowVersionRecord(
        flow_id=m["flow_id"],
        version=m["version"],
        data=m["data"],
        user_id=m["user_id"],
        create_time=m["create_time"],
    )


def assistant_record(row: AnyRow) -> AssistantRecord:
    """An `assistant` row."""
    m = row._mapping
    return AssistantRecord(
        id=m["id"],
        name=m["name"],
        prompt=m["prompt"],
        model=m["model"],
        user_id=m["user_id"],
        tools=list(m["tools"] or []),
        guide_word=m["guide_word"],
        status=m["status"],
        description=m["description"],
        logo=m["logo"],
        is_public=bool(m["is_public"]),
        create_time=m["create_time"],
        update_time=m["update_time"],
    )


def user_record(row: AnyRow) -> UserRecord:
    """A `user` row."""
    return UserRecord(
        id=row.id, user_name=row.user_name, role=row.role, password_hash=row.password_hash
    )


def telemetry_record(row: AnyRow) -> TelemetryRecord:
    """A `telemetry_event` row."""
    m = row._mapping
    return TelemetryRecord(
        event_key=m["event_key"],
        event_type=m["event_type"],
        user_id=m["user_id"],
        payload=m["payload"],
        chat_id=m["chat_id"],
        message_id=m["message_id"],
        create_time=m["create_time"],
    )


def audit_record(row: AnyRow) -> AuditRecord:
    """An `audit_log` row."""
    m = row._mapping
    return AuditRecord(
        event_key=m["event_key"],
        user_id=m["user_id"],
        action=m["action"],
        object_type=m["object_type"],
        object_id=m["object_id"],
        detail=m["detail"],
        create_time=m["create_time"],
    )
