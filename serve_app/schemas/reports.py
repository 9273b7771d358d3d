"""Admin and statistics reads: stats, audit-log entries, telemetry events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from serve_app.schemas.envelope import IsoTime
from storage.records import AuditRecord, ChatStats, TelemetryRecord


class DayStatsPublic(BaseModel):
    """One UTC day of `/chat/stats`."""

    date: str
    sessions: int
    messages: int
    like: int
    dislike: int
    copied: int


class StatsPublic(BaseModel):
    """`/chat/stats`: totals and a per-day breakdown (oldest day first)."""

    sessions: int
    messages: int
    users: int
    like: int
    dislike: int
    copied: int
    by_day: list[DayStatsPublic]

    @classmethod
    def of(cls, stats: ChatStats) -> StatsPublic:
        return cls.model_validate(stats.to_public())


class AuditLogPublic(BaseModel):
    """An audit-log entry: who did what to which object."""

    user_id: int | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    create_time: IsoTime

    @classmethod
    def of(cls, record: AuditRecord) -> AuditLogPublic:
        return cls.model_validate(record, from_attributes=True)


class TelemetryPublic(BaseModel):
    """A telemetry event (`new_message_session`, `delete_message_session`, `message_feedback`,
    `application_alive`, `application_process`)."""

    event_type: str
    user_id: int | None
    chat_id: str | None
    message_id: int | None
    payload: dict[str, Any]
    create_time: IsoTime

    @classmethod
    def of(cls, record: TelemetryRecord) -> TelemetryPublic:
        return cls.model_validate(record, from_attributes=True)
