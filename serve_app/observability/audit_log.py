"""Audit-log entries for every change made over REST: who did what to which object.

Written through the storage actor after the change succeeded. A failed write is logged and
counted (`raychat_events_dropped_total{kind="audit"}`) rather than failing a request whose
change already happened.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from actors.errors import RaychatError
from actors.ray.registry import Runtime
from serve_app.observability import metrics
from storage.records import AuditRecord, TelemetryRecord

log = logging.getLogger(__name__)
ObjectType = Literal["flow", "assistant", "session", "message", "user"]


def audit_entry(
    user_id: int | None, action: str, object_type: ObjectType, object_id: str | int, **detail: Any
) -> AuditRecord:
    """One entry, e.g. `("session.delete", "session", chat_id)`."""
    return AuditRecord(
        event_key=uuid.uuid4().hex,
        user_id=user_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        detail=detail,
    )


async def record_audit(
    runtime: Runtime, *entries: AuditRecord, telemetry: tuple[TelemetryRecord, ...] = ()
) -> None:
    """Commit audit entries (and telemetry that goes with them) in one group-commit op."""
    try:
        await runtime.storage.submit_events(telemetry=telemetry, audit=entries)
    except RaychatError as exc:
        metrics.EVENTS_DROPPED.labels("audit").inc(len(entries))
        metrics.EVENTS_DROPPED.labels("telemetry").inc(len(telemetry))
        log.warning("audit entries dropped (%d): %s", len(entries), exc.message)
