"""Event records: telemetry and the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.records.times import utcnow


@dataclass(frozen=True, slots=True)
class TelemetryRecord:
    """A telemetry event to insert; `event_key` makes a retried insert a no-op."""

    event_key: str
    event_type: str
    user_id: int | None
    payload: dict[str, Any]
    chat_id: str | None = None
    message_id: int | None = None
    create_time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit-log entry to insert; `event_key` makes a retried insert a no-op."""

    event_key: str
    user_id: int | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any] = field(default_factory=dict)
    create_time: datetime = field(default_factory=utcnow)
