"""Admin audit reads and statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from actors.errors import InvalidInput
from actors.ray.registry import Runtime
from serve_app.auth.tokens import Principal
from storage.records import (
    AuditRecord,
    ChatStats,
    Feedback,
    Page,
    SessionFilter,
    SessionRow,
    StatsFilter,
    TelemetryRecord,
)

DateOrTime = date | datetime


def _instant(value: DateOrTime | None, *, end: bool) -> datetime | None:
    """A day means the whole UTC day (an end day is included); a time without an offset is
    UTC; a time with one is taken as given (an end time is excluded)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    midnight = datetime.combine(value, time(), tzinfo=UTC)
    return midnight + timedelta(days=1) if end else midnight


def check_date_range(
    start_date: DateOrTime | None, end_date: DateOrTime | None
) -> tuple[datetime | None, datetime | None]:
    """`[start, end)` as UTC instants; InvalidInput when the range is empty."""
    start, end = _instant(start_date, end=False), _instant(end_date, end=True)
    if start is not None and end is not None and start >= end:
        raise InvalidInput(
            "start_date must be before end_date",
            start_date=start.isoformat(),
            end_date=end.isoformat(),
        )
    return start, end


async def audit_sessions(
    runtime: Runtime,
    user_id: int | None,
    flow_id: str | None,
    feedback: Feedback | None,
    start_date: DateOrTime | None,
    end_date: DateOrTime | None,
    page: int,
    limit: int,
    user_ids: tuple[int, ...] = (),
    flow_ids: tuple[str, ...] = (),
) -> Page[SessionRow]:
    """Sessions (soft-deleted ones included) by owner, app, feedback counter > 0 and creation
    date, newest first. Admins only (checked by the route)."""
    start, end = check_date_range(start_date, end_date)
    f = SessionFilter(
        user_id=user_id,
        flow_id=flow_id,
        feedback=feedback,
        start=start,
        end=end,
        user_ids=user_ids,
        flow_ids=flow_ids,
    )
    return await runtime.storage.audit_sessions(f, page, limit)


async def chat_stats(
    runtime: Runtime,
    user: Principal,
    flow_id: str | None,
    start_date: DateOrTime | None,
    end_date: DateOrTime | None,
) -> ChatStats:
    """Stats of the caller's apps (every app for admins); `flow_id` narrows to one app, and
    yields zeros for an app that is not the caller's."""
    start, end = check_date_range(start_date, end_date)
    owner_id = None if user.is_admin else user.user_id
    f = StatsFilter(owner_id=owner_id, flow_id=flow_id, start=start, end=end)
    return await runtime.storage.stats(f)


async def audit_log(runtime: Runtime, user_id: int, limit: int) -> list[AuditRecord]:
    """A user's newest audit-log entries."""
    return await runtime.storage.list_audit_log(user_id, limit)


async def telemetry_events(runtime: Runtime, event_type: str, limit: int) -> list[TelemetryRecord]:
    """The newest telemetry events of one type."""
    return await runtime.storage.list_telemetry(event_type, limit)
